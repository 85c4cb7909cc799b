"""Redis Lua scripts, read once from the ``.lua`` files shipped beside their modules.

Each script lives next to the module that runs it, named
``<module>_<script>.lua`` (``infra/timeline_store_push.lua``), and starts with
a comment giving what it does, its KEYS and ARGV, and what it returns. Modules
read the text here and hand it to ``Redis.register_script`` (or ``eval``) as
before; nothing about how a script runs changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any, Generic, NamedTuple, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import NoScriptError


@cache
def load_script(package: str, name: str) -> str:
    """The text of ``<name>.lua`` in ``package`` (a dotted package name).

    Read through importlib.resources, so it works from a source tree, an
    editable install and a wheel alike; each file is read once per process.
    Raises FileNotFoundError when the package does not ship that file (see
    ``[tool.setuptools.package-data]`` in pyproject.toml).
    """
    return resources.files(package).joinpath(f"{name}.lua").read_text(encoding="utf-8")


class PipelinedScript:
    """A script queued on pipelines as a bare ``EVALSHA``.

    redis-py sends ``SCRIPT EXISTS`` before every pipeline that carries a script
    registered with ``register_script`` (``Pipeline.load_scripts``): one round trip
    more per pipeline. This one is queued as ``EVALSHA`` only; a Redis that does not
    have it yet (new, restarted, flushed) answers ``NOSCRIPT``, and ``loading`` then
    loads it and runs the pipeline again.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    def queue(self, pipe: Pipeline, keys: Sequence[str],
              args: Sequence[bytes | str | int | float]) -> None:
        if isinstance(pipe, ClusterPipeline):  # refuses EVALSHA: the text, to its node
            pipe.eval(self.text, len(keys), *keys, *args)
            return
        pipe.evalsha(self.sha, len(keys), *keys, *args)


T = TypeVar("T")


class Answer(NamedTuple, Generic[T]):
    """What an adapter's ``queue_...`` method left on a pipeline shared with others:
    how many ``replies`` its commands take (in the order queued) and ``read``, which
    turns exactly those replies into the call's answer."""

    replies: int
    read: Callable[[Sequence[Any]], T]


async def loading(redis: Redis, scripts: Sequence[PipelinedScript],
                  run: Callable[[], Awaitable[T]]) -> T:
    """``run()``, again after loading ``scripts`` if Redis did not have one of them
    (``run`` must be safe to repeat: a pipeline that met ``NOSCRIPT`` ran no script)."""
    try:
        return await run()
    except NoScriptError:
        for script in scripts:
            await redis.script_load(script.text)
        return await run()


async def pipelined(redis: Redis, scripts: Sequence[PipelinedScript],
                    fill: Callable[[Pipeline], object]) -> list[Any]:
    """The replies of one non-transactional pipeline that ``fill(pipe)`` queues
    commands on (``PipelinedScript.queue`` among them): one round trip, two and a
    script load when Redis did not have one of ``scripts`` (``loading``). ``fill``
    runs again then, so what it queues must be safe to send twice (a pipeline that
    met ``NOSCRIPT`` ran none of its scripts, but its plain commands did run)."""
    async def run() -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            fill(pipe)
            return list(await pipe.execute())

    return await loading(redis, scripts, run)


async def answered(redis: Redis, scripts: Sequence[PipelinedScript],
                   queue: Callable[[Pipeline], Answer[T]]) -> T:
    """What the ``Answer`` that ``queue(pipe)`` leaves reads from the replies of its
    pipeline (``pipelined``, with the same rule: ``queue`` may run twice)."""
    async def run() -> T:
        async with redis.pipeline(transaction=False) as pipe:
            answer = queue(pipe)
            return answer.read(await pipe.execute())

    return await loading(redis, scripts, run)

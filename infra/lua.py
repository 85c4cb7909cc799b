"""Redis Lua scripts, read once from the ``.lua`` files shipped beside their modules.

Each script lives next to the module that runs it, named
``<module>_<script>.lua`` (``infra/timeline_store_push.lua``), and starts with
a comment giving what it does, its KEYS and ARGV, and what it returns. Modules
read the text here and hand it to ``Redis.register_script`` (or ``eval``) as
before; nothing about how a script runs changes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_script(package: str, name: str) -> str:
    """The text of ``<name>.lua`` in ``package`` (a dotted package name).

    Read through importlib.resources, so it works from a source tree, an
    editable install and a wheel alike; each file is read once per process.
    Raises FileNotFoundError when the package does not ship that file (see
    ``[tool.setuptools.package-data]`` in pyproject.toml).
    """
    return resources.files(package).joinpath(f"{name}.lua").read_text(encoding="utf-8")

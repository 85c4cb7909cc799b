"""An in-memory ``ports.page_facts.FactsCache``."""

from __future__ import annotations

import copy

from ports.errors import DependencyUnavailable
from ports.page_facts import FactKeys, Facts


class FakeFactsCache:
    """The facts as dicts (a read returns copies, as Redis would). ``unavailable = True``
    makes every call fail as a store that is down: ``set_facts`` with
    ``DependencyUnavailable``, the readers' calls with the client's ``ConnectionError``.
    ``gets`` counts the calls to ``get``."""

    def __init__(self) -> None:
        self.facts = Facts()
        self.unavailable = False
        self.gets = 0

    def _check(self) -> None:
        if self.unavailable:
            raise ConnectionError("facts cache: unavailable")

    async def get(self, keys: FactKeys) -> Facts:
        self._check()
        self.gets += 1
        held = self.facts
        return copy.deepcopy(Facts(
            accounts={i: held.accounts[i] for i in keys.accounts if i in held.accounts},
            reposts={i: held.reposts[i] for i in keys.reposts if i in held.reposts},
            liked={p: held.liked[p] for p in keys.liked if p in held.liked},
            reposted={p: held.reposted[p] for p in keys.reposted if p in held.reposted},
            hidden={p: held.hidden[p] for p in keys.hidden if p in held.hidden}))

    async def fill(self, facts: Facts) -> None:
        self._check()
        held, new = self.facts, copy.deepcopy(facts)
        for mine, theirs in ((held.accounts, new.accounts), (held.reposts, new.reposts),
                             (held.liked, new.liked), (held.reposted, new.reposted),
                             (held.hidden, new.hidden)):
            for key, value in theirs.items():
                mine.setdefault(key, value)  # type: ignore[arg-type]

    async def set_facts(self, facts: Facts) -> None:
        if self.unavailable:
            raise DependencyUnavailable("facts cache: unavailable")
        self.facts.update(copy.deepcopy(facts))

"""Ports: what the application packages need from the stores, as small protocols.

``commands``, ``projections`` and ``queries`` name a store only through a
port (a ``typing.Protocol`` here) and the shared vocabulary beside it (the
event envelope, the projectors' names, the errors an adapter may raise).
Each port has one adapter in ``infra/`` (Redis, PostgreSQL, Elasticsearch),
wired by ``infra.bootstrap``, and a fake in ``tests/fakes``; one contract
test class runs against both. ``ports`` imports ``domain`` and nothing else
of ours (checked by import-linter, ``make lint``).
"""

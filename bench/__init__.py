"""Roost's benchmark suite: ``python -m bench`` (``make bench``).

Generates a power-law social graph, loads it through the command layer,
starts the real stack (API, relay, worker) and drives it over HTTP with an
open-loop load generator, printing every figure beside the raw limit of the
building block under it. Never part of the test suite; never asserts timings.
"""

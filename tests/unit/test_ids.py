"""Snowflake ids, path-id parsing and the deterministic aggregate UUIDs."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator

import pytest

from domain.ids import (
    EPOCH_MS,
    MAX_ID,
    NODE_BITS,
    SEQUENCE_BITS,
    SnowflakeGenerator,
    account_uuid,
    email_claim_uuid,
    follow_uuid,
    parse_snowflake,
    post_uuid,
    snowflake_time_ms,
)

NOW_MS = EPOCH_MS + 330 * 86_400_000  # late 2026


def scripted_clock(readings: list[int]) -> Callable[[], int]:
    """A clock returning ``readings`` in turn, then repeating the last one."""
    values: Iterator[int] = iter(readings)
    last = [readings[0]]

    def clock() -> int:
        last[0] = next(values, last[0])
        return last[0]

    return clock


def node_of(snowflake: int) -> int:
    return (snowflake >> SEQUENCE_BITS) & ((1 << NODE_BITS) - 1)


def sequence_of(snowflake: int) -> int:
    return snowflake & ((1 << SEQUENCE_BITS) - 1)


# --- generator ---------------------------------------------------------------


def test_id_encodes_time_node_and_sequence() -> None:
    gen = SnowflakeGenerator(node_id=37, clock_ms=lambda: NOW_MS)
    first, second = gen.next_id(), gen.next_id()
    assert snowflake_time_ms(first) == NOW_MS
    assert node_of(first) == 37 and node_of(second) == 37
    assert (sequence_of(first), sequence_of(second)) == (0, 1)
    assert first == ((NOW_MS - EPOCH_MS) << (NODE_BITS + SEQUENCE_BITS)) | (37 << SEQUENCE_BITS)


def test_ids_strictly_increase_when_the_clock_goes_backwards_or_stalls() -> None:
    readings = [NOW_MS, NOW_MS + 5, NOW_MS + 2, NOW_MS + 2, NOW_MS - 1000, NOW_MS + 6, NOW_MS + 6]
    gen = SnowflakeGenerator(node_id=1, clock_ms=scripted_clock(readings))
    ids = [gen.next_id() for _ in range(len(readings) + 3)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    # never earlier than the latest time already used
    assert snowflake_time_ms(ids[2]) == NOW_MS + 5


def test_exhausted_sequence_borrows_the_next_millisecond() -> None:
    gen = SnowflakeGenerator(node_id=3, clock_ms=lambda: NOW_MS)
    ids = [gen.next_id() for _ in range(2 * 2**SEQUENCE_BITS + 10)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert snowflake_time_ms(ids[2**SEQUENCE_BITS - 1]) == NOW_MS
    assert sequence_of(ids[2**SEQUENCE_BITS - 1]) == 2**SEQUENCE_BITS - 1
    assert snowflake_time_ms(ids[2**SEQUENCE_BITS]) == NOW_MS + 1
    assert sequence_of(ids[2**SEQUENCE_BITS]) == 0
    assert snowflake_time_ms(ids[-1]) == NOW_MS + 2


def test_ids_are_unique_and_monotonic_per_thread_under_contention() -> None:
    gen = SnowflakeGenerator(node_id=5)
    threads_n, per_thread = 8, 4000
    results: list[list[int]] = [[] for _ in range(threads_n)]
    barrier = threading.Barrier(threads_n)

    def work(out: list[int]) -> None:
        barrier.wait()
        for _ in range(per_thread):
            out.append(gen.next_id())

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [i for out in results for i in out]
    assert len(everything) == threads_n * per_thread
    assert len(set(everything)) == len(everything)
    for out in results:
        assert all(a < b for a, b in itertools.pairwise(out))
    assert all(0 < i < 2**63 for i in everything)
    assert {node_of(i) for i in everything} == {5}


def test_largest_representable_time_and_node_stay_below_2_pow_63() -> None:
    last_ms = EPOCH_MS + 2**41 - 1
    gen = SnowflakeGenerator(node_id=2**NODE_BITS - 1, clock_ms=lambda: last_ms)
    ids = [gen.next_id() for _ in range(2**SEQUENCE_BITS)]
    assert max(ids) == MAX_ID == 2**63 - 1
    assert all(i < 2**63 for i in ids)


def test_generator_refuses_rather_than_return_an_id_of_2_pow_63_or_more() -> None:
    last_ms = EPOCH_MS + 2**41 - 1
    gen = SnowflakeGenerator(node_id=2**NODE_BITS - 1, clock_ms=lambda: last_ms)
    ids = [gen.next_id() for _ in range(2**SEQUENCE_BITS)]  # the last millisecond, all of it
    assert max(ids) == MAX_ID
    with pytest.raises(RuntimeError, match="outside the Snowflake range"):
        gen.next_id()  # would borrow a millisecond past the 41-bit field


def test_generator_keeps_refusing_after_a_refusal_instead_of_reissuing_ids() -> None:
    last_ms = EPOCH_MS + 2**41 - 1
    gen = SnowflakeGenerator(node_id=0, clock_ms=lambda: last_ms)
    issued = {gen.next_id() for _ in range(2**SEQUENCE_BITS)}
    for _ in range(3):
        try:
            again = gen.next_id()
        except RuntimeError:
            continue
        assert again not in issued, "a Snowflake id was issued twice"


@pytest.mark.parametrize("clock", [0, EPOCH_MS - 1, -5])
def test_generator_refuses_a_clock_before_the_epoch(clock: int) -> None:
    gen = SnowflakeGenerator(node_id=0, clock_ms=lambda: clock)  # e.g. an unset RTC at boot
    with pytest.raises(RuntimeError, match="outside the Snowflake range"):
        gen.next_id()


def test_generator_issues_ids_again_once_the_clock_is_back_in_range() -> None:
    readings = [0, NOW_MS]
    gen = SnowflakeGenerator(node_id=3, clock_ms=lambda: readings[0])
    with pytest.raises(RuntimeError):
        gen.next_id()
    readings[0] = NOW_MS
    value = gen.next_id()
    assert 0 < value <= MAX_ID and snowflake_time_ms(value) == NOW_MS


@pytest.mark.parametrize("node_id", [-1, 2**NODE_BITS, 10_000])
def test_node_id_out_of_range_is_refused(node_id: int) -> None:
    with pytest.raises(ValueError):
        SnowflakeGenerator(node_id=node_id)


# --- parse_snowflake -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("1234567890123456789", 1234567890123456789),
        (str(MAX_ID), MAX_ID),
        ("10", 10),
        ("9000000000000000000", 9 * 10**18),
    ],
)
def test_parse_snowflake_accepts_63_bit_decimals(text: str, expected: int) -> None:
    assert parse_snowflake(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "00",
        "01",
        "0000000000000000042",  # 19 digits with leading zeros: not how we write 42
        "0" + str(MAX_ID)[1:],
        "-1",
        "+1",
        "",
        " 1",
        "1 ",
        "1_000",
        "1e3",
        "0x10",
        "1.0",
        str(2**63),  # 19 digits but one past the range
        "9" * 19,
        "1" * 20,  # 20 digits
        "0" * 19 + "1",  # 20 digits even though the value is small
        str(2**64),
        "١٢٣",  # Arabic-Indic digits
        "\uff11\uff12\uff13",  # fullwidth digits
        "²",  # superscript two: isdigit() but not a decimal
        "12a",
        "abc",
    ],
)
def test_parse_snowflake_rejects_everything_else(text: str) -> None:
    assert parse_snowflake(text) is None


def test_parse_snowflake_round_trips_generated_ids() -> None:
    gen = SnowflakeGenerator(node_id=9)
    for _ in range(100):
        value = gen.next_id()
        assert parse_snowflake(str(value)) == value


# --- deterministic aggregate ids ---------------------------------------------------


def test_account_uuid_ignores_case_only() -> None:
    assert account_uuid("Alice") == account_uuid("alice") == account_uuid("ALICE")
    assert account_uuid("alice") != account_uuid("alice_")


def test_email_claim_uuid_ignores_case() -> None:
    assert email_claim_uuid("A@Example.com") == email_claim_uuid("a@example.COM")
    assert email_claim_uuid("a@example.com") != email_claim_uuid("b@example.com")


def test_follow_uuid_is_directional_and_unambiguous() -> None:
    assert follow_uuid(1, 2) == follow_uuid(1, 2)
    assert follow_uuid(1, 2) != follow_uuid(2, 1)
    assert follow_uuid(1, 23) != follow_uuid(12, 3)


def test_uuid_kinds_do_not_collide() -> None:
    assert len({account_uuid("1"), email_claim_uuid("1"), post_uuid(1)}) == 3

"""The event store's transcoder and the RFC 3339 time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from infra.serialization import build_transcoder, rfc3339


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 11, 24, 10, 0, 0, 1, tzinfo=timezone(timedelta(hours=-8))),
        datetime(2026, 1, 1, 0, 0, 0),  # naive stays naive
    ],
)
def test_transcoder_round_trips_datetimes_exactly(moment: datetime) -> None:
    transcoder = build_transcoder()
    decoded = transcoder.decode(transcoder.encode({"at": moment}))
    assert isinstance(decoded["at"], datetime)
    assert decoded["at"] == moment
    assert decoded["at"].utcoffset() == moment.utcoffset()


def test_transcoder_round_trips_nested_values() -> None:
    transcoder = build_transcoder()
    value: dict[str, Any] = {
        "times": [datetime(2026, 2, 3, 4, 5, 6, 7, tzinfo=UTC)],
        "deep": {"when": datetime(2026, 5, 5, tzinfo=UTC), "amount": Decimal("1.10")},
        "big": 2**63 - 1,
        "text": "h\u00e9llo \U0001f426",
        "none": None,
        "flags": [True, False],
        "looks_typed": {"_type_": "x", "other": 1},  # 3 keys: left alone
    }
    assert transcoder.decode(transcoder.encode(value)) == value


def test_transcoder_round_trips_uuids() -> None:
    # orjson writes UUIDs natively (as plain strings) unless they are handed to the
    # registered transcoding first
    transcoder = build_transcoder()
    one = UUID("6f1c3a52-6d55-4b7e-9d3e-2d1f0c8a7b11")
    value: dict[str, Any] = {"id": one, "ids": [one, (one,)], "deep": {"x": [{"y": one}]},
                             "text": str(one)}
    decoded = transcoder.decode(transcoder.encode(value))
    assert isinstance(decoded["id"], UUID) and decoded["id"] == one
    assert decoded["ids"] == [one, [one]]  # tuples come back as lists, as in JSON
    assert decoded["deep"] == {"x": [{"y": one}]}
    assert decoded["text"] == str(one)  # a string that looks like a UUID stays a string


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC), "2026-11-24T10:00:00.123Z"),
        (datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC), "2026-11-24T10:00:00.000Z"),
        (datetime(2026, 11, 24, 10, 0, 0, 999999, tzinfo=UTC), "2026-11-24T10:00:00.999Z"),
        (datetime(2026, 11, 24, 10, 0, 0, 1000, tzinfo=UTC), "2026-11-24T10:00:00.001Z"),
        (datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2))),
         "2026-11-24T10:00:00.123Z"),
        (datetime(2026, 11, 24, 3, 30, 0, tzinfo=timezone(timedelta(hours=-7))),
         "2026-11-24T10:30:00.000Z"),
        (datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
         "2026-12-31T23:30:00.000Z"),
        (datetime(2026, 11, 24, 10, 0, 0, 123456), "2026-11-24T10:00:00.123Z"),  # naive = UTC
    ],
)
def test_rfc3339_is_utc_with_milliseconds(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text

"""orjson everywhere: the event store's transcoder and the wire format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex


class OrjsonTranscoder(JSONTranscoder):
    """The library's extensible JSON transcoder, with orjson doing the work.

    Datetimes are passed through to the registered transcodings (rather than
    orjson's native form) so that they decode back into datetimes.
    """

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(self._wrap_uuids(obj), default=self._encode_obj,
                            option=orjson.OPT_PASSTHROUGH_DATETIME)

    def _wrap_uuids(self, value: Any) -> Any:
        """orjson writes UUIDs itself (there is no passthrough option), which would
        decode as plain strings: hand them to the registered transcoding first."""
        if isinstance(value, UUID):
            return self._encode_obj(value)
        if isinstance(value, dict):
            return {key: self._wrap_uuids(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._wrap_uuids(item) for item in value]
        return value

    def decode(self, data: bytes) -> Any:
        return self._revive(orjson.loads(data))

    def _revive(self, value: Any) -> Any:
        if isinstance(value, dict):
            revived = {key: self._revive(item) for key, item in value.items()}
            return self._decode_obj(revived)
        if isinstance(value, list):
            return [self._revive(item) for item in value]
        return value


def build_transcoder() -> OrjsonTranscoder:
    """The transcoder the event store is written and read with."""
    transcoder = OrjsonTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


def rfc3339(moment: datetime) -> str:
    """``2026-11-24T10:00:00.123Z``: UTC with milliseconds, as API.md fixes."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"

"""orjson everywhere: the event store's transcoder and the wire format.

``rfc3339``, the wire format of a moment, is defined in ``domain.moments`` (so the
query side may use it too) and re-exported here for the adapters.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from domain.moments import rfc3339

__all__ = ["OrjsonTranscoder", "build_transcoder", "rfc3339"]


class OrjsonTranscoder(JSONTranscoder):
    """The library's extensible JSON transcoder, with orjson doing the work.

    It keeps the library's wire form (``{"_type_": name, "_data_": ...}`` for each
    registered type) and uses only the library's public surface: ``register`` and
    the registered transcodings in ``types`` / ``names``.

    Datetimes are passed through to the registered transcodings (rather than
    orjson's native form) so that they decode back into datetimes.
    """

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(self._wrap_uuids(obj), default=self._tag,
                            option=orjson.OPT_PASSTHROUGH_DATETIME)

    def _tag(self, obj: Any) -> dict[str, Any]:
        """``{"_type_": name, "_data_": encoded}`` of a value of a registered type.

        Raises:
            TranscodingNotRegisteredError: no transcoding is registered for its type.
        """
        transcoding = self.types.get(type(obj))
        if transcoding is None:
            raise TranscodingNotRegisteredError(
                f"Object of type {type(obj)} is not serializable: register a transcoding")
        return {"_type_": transcoding.name, "_data_": transcoding.encode(obj)}

    def _wrap_uuids(self, value: Any) -> Any:
        """orjson writes UUIDs itself (there is no passthrough option), which would
        decode as plain strings: hand them to the registered transcoding first."""
        if isinstance(value, UUID):
            return self._tag(value)
        if isinstance(value, dict):
            return {key: self._wrap_uuids(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._wrap_uuids(item) for item in value]
        return value

    def decode(self, data: bytes) -> Any:
        return self.revive(orjson.loads(data))

    def revive(self, value: Any) -> Any:
        """The objects of already parsed JSON: each ``{"_type_", "_data_"}`` dict (its
        data revived first, innermost out, as the library's object hook does) becomes
        what its registered transcoding decodes; anything else is returned as is.

        Raises:
            TranscodingNotRegisteredError: a tag names no registered transcoding.
        """
        if isinstance(value, list):
            return [self.revive(item) for item in value]
        if not isinstance(value, dict):
            return value
        revived = {key: self.revive(item) for key, item in value.items()}
        if len(revived) != 2 or "_type_" not in revived or "_data_" not in revived:
            return revived
        transcoding = self.names.get(revived["_type_"])
        if transcoding is None:
            raise TranscodingNotRegisteredError(
                f"Data serialized with name {revived['_type_']!r} is not deserializable:"
                " register a transcoding")
        return transcoding.decode(revived["_data_"])


def build_transcoder() -> OrjsonTranscoder:
    """The transcoder the event store is written and read with."""
    transcoder = OrjsonTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


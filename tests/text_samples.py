"""One sample of every class of text Roost refuses from a client (API.md, Posts)."""

from __future__ import annotations

REFUSED = {
    "nul": "\x00",
    "c0": "\x01",
    "escape": "\x1b",
    "carriage_return": "\r",
    "del": "\x7f",
    "c1": "\x85",
    "c1_0087": "\u0087",
    "c1_last": "\x9f",
    "lone_high_surrogate": "\ud800",
    "lone_low_surrogate": "\udfff",
    "noncharacter_fdd0": "\ufdd0",
    "noncharacter_fdef": "\ufdef",
    "noncharacter_fffe": "\ufffe",
    "noncharacter_ffff": "\uffff",
    "noncharacter_plane1": "\U0001fffe",
    "noncharacter_plane16": "\U0010ffff",
}
"""Name → one refused code point; newline and tab are refused outside post text and bio."""

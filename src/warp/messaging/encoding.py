"""GSM 03.38 segment counting: which encoding a body needs and how many SMS segments it takes.

GSM-7: the default alphabet costs one septet per character, the extension table (reached through
the escape character) two. One segment holds 160 septets; a concatenated message holds 153 per
segment (the rest is the user data header) and never splits an escape pair. Any character outside
both tables makes the whole message UCS-2: 70 UTF-16 code units in one segment, 67 per segment
when concatenated, never splitting a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass

from warp.messaging.errors import InvalidMessage

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# The GSM 03.38 default alphabet, in table order (0x1B, the escape, is not a character).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The extension table: escape + one septet each.
GSM_EXTENDED = frozenset("\f^{}\\[~]|€")

SINGLE = {GSM7: 160, UCS2: 70}
CONCATENATED = {GSM7: 153, UCS2: 67}


@dataclass(frozen=True)
class SegmentCount:
    """The encoding of a body, its size in units (septets or UTF-16 code units) and its segments."""

    encoding: str
    segments: int
    units: int


def is_gsm7(body: str) -> bool:
    """True when every character is in the GSM 7-bit default alphabet or its extension table."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in body)


def _costs(body: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if ch in GSM_EXTENDED else 1 for ch in body]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in body]  # astral characters are surrogate pairs


def count_segments(body: str, *, mms: bool = False) -> SegmentCount:
    """Encoding and segment count of ``body`` per GSM 03.38.

    An empty body is refused for SMS (InvalidMessage); an MMS is always one message whatever
    its text, so ``mms=True`` answers one segment (encoding still that of the text).
    """
    encoding = GSM7 if is_gsm7(body) else UCS2
    costs = _costs(body, encoding)
    units = sum(costs)
    if mms:
        return SegmentCount(encoding, 1, units)
    if not body:
        raise InvalidMessage("body: an SMS needs text (send media_urls for an MMS)")
    if units <= SINGLE[encoding]:
        return SegmentCount(encoding, 1, units)
    per_segment = CONCATENATED[encoding]
    segments, used = 1, 0
    for cost in costs:  # a two-unit character never straddles a boundary
        if used + cost > per_segment:
            segments += 1
            used = 0
        used += cost
    return SegmentCount(encoding, segments, units)

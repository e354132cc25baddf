"""GSM 03.38 segment counting: hand cases at every boundary, then properties over random bodies."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warp.messaging.encoding import GSM7, GSM_BASIC, GSM_EXTENDED, UCS2, count_segments
from warp.messaging.errors import InvalidMessage

NON_GSM = "ąłżśćńęó中文ÀÂ✓"
EMOJI = "😀"  # U+1F600: a surrogate pair in UTF-16


def seg(body: str) -> tuple[str, int]:
    r = count_segments(body)
    return r.encoding, r.segments


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a", (GSM7, 1)),
        ("a" * 160, (GSM7, 1)),
        ("a" * 161, (GSM7, 2)),
        ("a" * 306, (GSM7, 2)),
        ("a" * 307, (GSM7, 3)),
        ("a" * 459, (GSM7, 3)),
        ("a" * 460, (GSM7, 4)),
        ("€" * 80, (GSM7, 1)),  # 160 septets
        ("€" * 81, (GSM7, 2)),  # 162 septets
        ("a" * 159 + "{", (GSM7, 2)),  # 161 septets
        ("a" * 158 + "[", (GSM7, 1)),  # exactly 160
        # 306 septets would fit two segments, but the escape pair may not straddle septet 153
        ("a" * 152 + "{" + "a" * 152, (GSM7, 3)),
        ("a" * 151 + "{" + "a" * 153, (GSM7, 2)),  # the pair ends exactly at 153
        ("ą" * 70, (UCS2, 1)),
        ("ą" * 71, (UCS2, 2)),
        ("ą" * 134, (UCS2, 2)),
        ("ą" * 135, (UCS2, 3)),
        (EMOJI * 35, (UCS2, 1)),  # 70 code units
        (EMOJI * 36, (UCS2, 2)),
        ("ą" * 66 + EMOJI + "ą" * 66, (UCS2, 3)),  # the pair is never split at unit 67
        ("ą" * 65 + EMOJI + "ą" * 67, (UCS2, 2)),
        ("a" * 159 + "ą", (UCS2, 3)),  # one non-GSM character turns all 160 into UCS-2
        ("Hello {name}", (GSM7, 1)),
        ("ÄÖÑÜ§¿äöñüà@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ", (GSM7, 1)),
        ("ç", (UCS2, 1)),  # lower-case c-cedilla is not in GSM 03.38 (only Ç is)
        ("`", (UCS2, 1)),
    ],
)
def test_boundaries(body: str, expected: tuple[str, int]) -> None:
    assert seg(body) == expected


def test_units_count_septets_and_code_units() -> None:
    assert count_segments("a{").units == 3
    assert count_segments("ą" + EMOJI).units == 3


def test_empty_body_is_refused_for_sms_and_one_segment_for_mms() -> None:
    with pytest.raises(InvalidMessage):
        count_segments("")
    assert count_segments("", mms=True).segments == 1
    assert count_segments("a" * 1000, mms=True).segments == 1


basic = st.text(alphabet=sorted(GSM_BASIC), min_size=1, max_size=700)
gsm = st.text(alphabet=sorted(GSM_BASIC | GSM_EXTENDED), min_size=1, max_size=700)
anything = st.text(min_size=1, max_size=500)


@given(basic)
def test_basic_gsm_is_exact(body: str) -> None:
    n = len(body)
    assert seg(body) == (GSM7, 1 if n <= 160 else math.ceil(n / 153))


@given(st.text(alphabet=st.characters(min_codepoint=0x100, max_codepoint=0xD7FF), min_size=1, max_size=400))
def test_bmp_ucs2_is_exact(body: str) -> None:
    n = len(body)
    assert seg(body) == (UCS2, 1 if n <= 70 else math.ceil(n / 67))


@given(gsm)
def test_gsm_with_extension_is_bounded(body: str) -> None:
    r = count_segments(body)
    units = sum(2 if c in GSM_EXTENDED else 1 for c in body)
    assert r.encoding == GSM7 and r.units == units
    if units <= 160:
        assert r.segments == 1
    else:  # each boundary wastes at most the one septet an escape pair could not use
        assert math.ceil(units / 153) <= r.segments <= math.ceil(units / 152)


@given(anything)
def test_any_body(body: str) -> None:
    r = count_segments(body)
    gsm_only = all(c in GSM_BASIC or c in GSM_EXTENDED for c in body)
    assert r.encoding == (GSM7 if gsm_only else UCS2)
    if r.encoding == UCS2:
        assert r.units == len(body.encode("utf-16-le")) // 2
        limit, per = 70, 67
    else:
        limit, per = 160, 153
    if r.units <= limit:
        assert r.segments == 1
    else:
        assert math.ceil(r.units / per) <= r.segments <= math.ceil(r.units / (per - 1))


@given(anything, st.text(min_size=1, max_size=5))
def test_appending_never_reduces_segments(body: str, more: str) -> None:
    assert count_segments(body + more).segments >= count_segments(body).segments


@given(gsm, st.sampled_from(NON_GSM))
def test_one_foreign_character_makes_everything_ucs2(body: str, foreign: str) -> None:
    assert count_segments(body + foreign).encoding == UCS2

"""Keyword classification: whole-body, trimmed, case-insensitive, exact families."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warp.messaging.keywords import FAMILIES, HELP, START, STOP, classify


@pytest.mark.parametrize(
    ("body", "family"),
    [
        ("STOP", STOP),
        ("stop", STOP),
        ("  Stop \n", STOP),
        ("STOPALL", STOP),
        ("stop all", STOP),
        ("STOP  ALL", STOP),
        ("Unsubscribe", STOP),
        ("cancel", STOP),
        ("END", STOP),
        ("quit", STOP),
        ("REVOKE", STOP),
        ("optout", STOP),
        ("Opt Out", STOP),
        ("START", START),
        ("unstop", START),
        ("yes", START),
        ("SUBSCRIBE", START),
        ("help", HELP),
        ("Info", HELP),
        ("please stop", None),
        ("STOP.", None),
        ("STOP it", None),
        ("OPTOUTS", None),
        ("helpme", None),
        ("", None),
        ("\u017ftop", None),  # upper-cases to STOP, but is not the keyword
        ("no", None),
    ],
)
def test_classify(body: str, family: str | None) -> None:
    assert classify(body) == family


def test_family_sizes_are_exactly_the_issue() -> None:
    assert len(FAMILIES[STOP]) == 10 and len(FAMILIES[START]) == 4 and len(FAMILIES[HELP]) == 2


@given(st.sampled_from(sorted(w for ws in FAMILIES.values() for w in ws)), st.text(" \t\n", max_size=3))
def test_keywords_survive_case_and_padding(word: str, pad: str) -> None:
    assert classify(pad + word.lower() + pad) == classify(word) is not None


@given(st.text(max_size=40))
def test_a_keyword_inside_a_sentence_is_not_a_keyword(text: str) -> None:
    body = f"{text} stop {text}x"
    assert classify(body) is None

"""audit.sanitize_jsonb skips the recursive walk only when the walk would change nothing."""

from __future__ import annotations

from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

KEYS = st.sampled_from(
    [
        "to",
        "from",
        "text",
        "note",
        "Password",
        "api_key",
        "X-Api-Key",
        "client-secret",
        "refresh_token",
        "cvv",
        "pan",
        "pin",
        "card_number",
        "company",
        "shipping",
        "hash",
        "cookie",
        "id",
        "tag",
        "api key",
        "Card Number",
        "x_PIN_",
        "spin",
        "pin code",
        "",
    ]
)
# PostgreSQL text cannot hold NUL; surrogates are not valid UTF-8.
CHARS = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
CARDS = st.sampled_from(
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "4012888888881881"]
)
TEXT = st.one_of(
    st.text(CHARS, max_size=30),
    CARDS,
    st.builds(lambda a, c, b: f"{a} {c} {b}", st.text(CHARS, max_size=8), CARDS, st.text(CHARS, max_size=8)),
    st.from_regex(r"\+1[2-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["password", "shipping company", "my pin is 1234", "token", "cookie", "pan"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**19), max_value=10**19),
    TEXT,
    st.sampled_from([4012888888881881, 5555555555554444, 1234567890123]),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS)
def test_fast_path_never_skips_something_the_walk_would_mask(conn: psycopg.Connection[Any], doc: Any) -> None:
    fast, walked = conn.execute(
        "SELECT audit.sanitize_jsonb(%(d)s), audit.sanitize_jsonb_walk(%(d)s)", {"d": Jsonb(doc)}
    ).fetchone() or (None, None)
    assert fast == walked


def test_a_plain_message_body_takes_the_fast_path(conn: psycopg.Connection[Any]) -> None:
    body = {"from": "+12125550100", "to": "+13105550199", "text": "Your code is 123456", "tag": "x"}
    assert conn.execute("SELECT audit.may_hold_secret(%s)", (Jsonb(body),)).fetchone() == (False,)
    assert conn.execute(
        "SELECT audit.may_hold_secret(%s)", (Jsonb({**body, "Api-Key": "k"}),)
    ).fetchone() == (True,)


def test_words_in_values_do_not_take_the_walk(conn: psycopg.Connection[Any]) -> None:
    """Only key names and card-like digits make the walk worth it: "shipping" holds "pin", "company"
    holds "pan", and a message may say "password" without holding one."""
    body = {"from": "+12125550100", "text": "Shipping update from the company: reset your password"}
    assert conn.execute("SELECT audit.may_hold_secret(%s)", (Jsonb(body),)).fetchone() == (False,)
    for nested in ({"items": [{"pin": "1234"}]}, {"a": {"b": {"Card-Number": None}}}, [{"x": [{"cvv": 1}]}]):
        assert conn.execute("SELECT audit.may_hold_secret(%s)", (Jsonb(nested),)).fetchone() == (True,), (
            nested
        )

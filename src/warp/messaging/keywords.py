"""Opt-out keyword classification (CTIA families): STOP, START, HELP or nothing."""

from __future__ import annotations

STOP = "STOP"
START = "START"
HELP = "HELP"

FAMILIES: dict[str, frozenset[str]] = {
    STOP: frozenset(
        {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"}
    ),
    START: frozenset({"START", "UNSTOP", "YES", "SUBSCRIBE"}),
    HELP: frozenset({"HELP", "INFO"}),
}
_LOOKUP = {word: family for family, words in FAMILIES.items() for word in words}


def classify(body: str) -> str | None:
    """The keyword family of a whole message body, or None.

    The body is trimmed, runs of inner whitespace count as one space, and the comparison ignores
    case; a keyword inside a sentence ("please stop") is not a keyword.
    """
    normalised = " ".join(body.split())
    if not normalised.isascii():  # "\u017ftop".upper() is "STOP": only plain ASCII keywords count
        return None
    return _LOOKUP.get(normalised.upper())

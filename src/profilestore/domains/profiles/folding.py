"""How search compares text: case folded and without accents, ``Zoë`` as ``zoe``,
``Straße`` as ``strasse``, ``Łukasz`` as ``lukasz``."""

from __future__ import annotations

import unicodedata

UNDECOMPOSED = str.maketrans(
    {"æ": "ae", "ð": "d", "đ": "d", "ħ": "h", "\u0131": "i", "ł": "l", "ŋ": "n", "ø": "o"}
    | {"œ": "oe", "þ": "th", "ŧ": "t", "ƒ": "f"}
)
"""Letters with no accent to strip (Unicode gives them no decomposition) that PostgreSQL's
``unaccent`` still turns into Latin letters: so that the embedded default (SQLite, folded
here) finds ``Łukasz`` from ``lukasz`` as PostgreSQL (folded by ``profilestore_fold``) does."""


def fold(text: str) -> str:
    """``text`` as a search compares it: case folded, compatibility-decomposed, without its
    combining marks (accents), the letters of ``UNDECOMPOSED`` replaced."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(UNDECOMPOSED))
    return "".join(char for char in decomposed if not unicodedata.combining(char))

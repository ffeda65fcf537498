"""Text as search compares it: case- and accent-insensitive.

`fold` is applied to titles when they are indexed and to queries when they are asked, so both
sides meet in the same form whatever the database does with case or accents.
"""

from __future__ import annotations

import unicodedata

# Letters NFKD does not take apart but people type without their mark.
_EXTRA = str.maketrans(
    {"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "\u0131": "i", "æ": "ae", "œ": "oe"}
)


def fold(text: str) -> str:
    """Lower case, accents dropped, runs of white space made one space, ends trimmed. Control
    characters and lone surrogates separate words, invisible format characters (a soft hyphen,
    a zero-width space) vanish: neither database can take a NUL or a lone surrogate, and
    nobody types them into a search."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(_visible(c) for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.translate(_EXTRA).split())


def _visible(c: str) -> str:
    kind = unicodedata.category(c)
    if kind in ("Cc", "Cs"):
        return " "
    return "" if kind == "Cf" else c

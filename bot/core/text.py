"""User text in and out: prompts cleaned of invisible characters before any check, and
anything a user (or a provider) wrote neutralised before the bot posts it again.

Kept platform-neutral: no markup of any chat is rendered from echoed text. Mentions
are also limited by each adapter's allowed-mentions setting; this is the second
lock, so that a caption never even reads as a ping or a disguised link.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that render as nothing but are not in the format category (Cf): the
# Hangul fillers, the braille blank, the combining grapheme joiner, and the variation
# selectors (the supplementary ones are U+E0100..U+E01EF).
_INVISIBLE = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f" + "".join(map(chr, range(0xFE00, 0xFE10)))
)
_DROPPED_CATEGORIES = frozenset({"Cf", "Cc", "Co", "Cs", "Cn"})
_SPACE = re.compile(r"\s+")


def _visible(char: str) -> bool:
    if char in _INVISIBLE or 0xE0100 <= ord(char) <= 0xE01EF:
        return False
    return unicodedata.category(char) not in _DROPPED_CATEGORIES


def clean_prompt(text: str) -> str:
    """Whitespace of any kind becomes one space; format, control, private-use and
    unassigned characters (zero-width joiners, bidi overrides, ...) and other invisible
    fillers are removed. What is left is what a reader sees, and what is checked and
    sent."""
    text = "".join(" " if c.isspace() else c for c in text if c.isspace() or _visible(c))
    return _SPACE.sub(" ", text).strip()


# `[text](url)` and `[text](<url>)`: a masked link shows text that hides where it goes.
_MASKED_LINK = re.compile(r"\]\s*\(")
# Anything that could read as a mention: @everyone, @here, <@id>, <@!id>, <@&role>.
_AT = "@"
_ZERO_WIDTH_SPACE = "\u200b"


def quote(text: str, limit: int | None = None) -> str:
    """User or provider text made safe to echo: cleaned like a prompt, mentions broken
    (`@` followed by a zero-width space, as discord.py's escape_mentions does), masked
    links shown as plain brackets, and optionally shortened with an ellipsis."""
    text = clean_prompt(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = _MASKED_LINK.sub("] (", text)
    return text.replace(_AT, _AT + _ZERO_WIDTH_SPACE)

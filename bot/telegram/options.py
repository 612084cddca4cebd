"""`/animate <prompt> key=value ...`: the words of a Telegram request, split into the
prompt and the options the core validates (the same ranges and messages as Discord's
slash command, because the core checks both)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.core import messages

# `/animate`, `/animate@this_bot`, at the start of a text or a caption.
COMMAND = re.compile(r"^/animate(?:@(?P<bot>\w+))?(?=\s|$)", re.IGNORECASE)
# key=value or key="several words"
_OPTION = re.compile(r'(?<!\S)(?P<key>[a-z_]+)=(?:"(?P<quoted>[^"]*)"|(?P<word>\S+))')

# What users type -> (the core's option name, the value's type).
OPTIONS: dict[str, tuple[str, type]] = {
    "duration": ("duration", float),
    "seconds": ("duration", float),
    "res": ("resolution", str),
    "resolution": ("resolution", str),
    "aspect": ("aspect_ratio", str),
    "seed": ("seed", int),
    "steps": ("steps", int),
    "guidance": ("guidance", float),
    "strength": ("strength", float),
    "negative": ("negative_prompt", str),
    "provider": ("provider", str),
    "model": ("model", str),
    "loop": ("loop", bool),
    "draft": ("draft", bool),
    "lora": ("lora", str),
}
OPTION_NAMES = (
    "duration, res, aspect, seed, steps, guidance, strength, negative, provider, model, loop, draft"
)
_YES = {"1", "true", "yes", "on"}
_NO = {"0", "false", "no", "off"}


class OptionError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Parsed:
    prompt: str
    options: dict[str, Any] = field(default_factory=dict)


def strip_command(text: str, bot_username: str | None) -> str | None:
    """The text after `/animate`, or None when the text is not our command (another
    command, or `/animate@other_bot` in a group with several bots)."""
    match = COMMAND.match(text.strip())
    if match is None:
        return None
    addressed = match["bot"]
    if addressed and bot_username and addressed.lower() != bot_username.lower():
        return None
    return text.strip()[match.end() :].strip()


def parse(words: str) -> Parsed:
    """Options anywhere in the text; the rest, in order, is the prompt."""
    options: dict[str, Any] = {}
    for match in _OPTION.finditer(words):
        key = match["key"].lower()
        if key not in OPTIONS:
            raise OptionError(messages.unknown_option(key, OPTION_NAMES))
        name, kind = OPTIONS[key]
        raw = match["quoted"] if match["quoted"] is not None else match["word"]
        options[name] = _value(name, kind, raw)
    prompt = _OPTION.sub(" ", words)
    return Parsed(" ".join(prompt.split()), options)


def _value(name: str, kind: type, raw: str) -> Any:
    if kind is bool:
        if raw.lower() in _YES | _NO:
            return raw.lower() in _YES
        raise OptionError(messages.bad_option(name, messages.MUST_BE_ONE_OR_ZERO))
    try:
        return kind(raw.replace(",", ".") if kind is float else raw)
    except ValueError:
        reason = messages.MUST_BE_WHOLE_NUMBER if kind is int else messages.MUST_BE_NUMBER
        raise OptionError(messages.bad_option(name, reason)) from None

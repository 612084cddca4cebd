"""Prompts per section of time, as FramePack-Studio writes them: `[0s: a cat sits]
[2.5s: the cat jumps]` — each part in force from its time until the next one's. Read
here once, for the request's validation, the backends' capabilities, the safety check
and the local engine (through the GPU pool's job, which carries the prompt as typed)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

_PART = re.compile(r"\[\s*(?P<time>\d+(?:[.,]\d+)?)\s*s\s*:\s*(?P<text>[^\[\]]*?)\s*\]")


@dataclass(frozen=True)
class TimedPrompt:
    start_s: float
    text: str


def timed_prompts(prompt: str) -> tuple[TimedPrompt, ...]:
    """The parts of a prompt written with times, in order; () for a plain prompt.
    Raises ValueError (the message is for the user) for a prompt that mixes plain
    words with timed parts, or whose times do not start at 0 and rise."""
    parts = tuple(
        TimedPrompt(float(match["time"].replace(",", ".")), match["text"])
        for match in _PART.finditer(prompt)
    )
    if not parts:
        return ()
    if _PART.sub("", prompt).strip():
        raise ValueError("write every part of a timed prompt as [time: words], e.g. [0s: …]")
    if parts[0].start_s != 0:
        raise ValueError("the first part of a timed prompt starts at 0s")
    if any(later.start_s <= earlier.start_s for earlier, later in itertools.pairwise(parts)):
        raise ValueError("the times of a timed prompt must rise: [0s: …] [2s: …] [4s: …]")
    if any(not part.text for part in parts):
        raise ValueError("every part of a timed prompt needs words")
    return parts

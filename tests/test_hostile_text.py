"""Hostile text: prompts disguised with invisible characters, look-alike letters and
leetspeak still meet the deny-list; nothing a user writes comes back out of the bot
as a ping, a masked link or a bidi trick; ordinary prompts are never blocked."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import messages
from bot.core.safety import CONFUSABLES, DenyList, SafetyChecker
from bot.core.text import clean_prompt, quote
from storage import JobRecord, JobState

DENY = DenyList.load()
CHECKER = SafetyChecker(DENY, None, 0.6)
CORPUS = Path(__file__).parent / "data" / "ordinary_prompts.txt"

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u2066"]
INVISIBLE += ["\u3164", "\ufe0f", "\u034f", "\u180e"]
LEET = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7"}
LOOK_ALIKES: dict[str, list[str]] = defaultdict(list)
for code, ascii_letter in CONFUSABLES.items():
    # Only characters that stay what they are under NFKD: the folding must do the work.
    if unicodedata.normalize("NFKD", chr(code)) == chr(code):
        LOOK_ALIKES[ascii_letter.lower()].append(chr(code))

TERMS = sorted(
    (category, " ".join(term)) for category, terms in DENY.categories.items() for term in terms
)


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """A shipped term with each letter kept, capitalised, swapped for a look-alike of
    another script or for its leetspeak digit, and invisible characters sprinkled in."""
    category, term = draw(st.sampled_from(TERMS))
    out = []
    for char in term:
        ways = ["keep", "upper"]
        if LOOK_ALIKES.get(char):
            ways.append("look-alike")
        if char in LEET:
            ways.append("leet")
        way = draw(st.sampled_from(ways))
        if way == "upper":
            char = char.upper()
        elif way == "look-alike":
            char = draw(st.sampled_from(LOOK_ALIKES[char]))
        elif way == "leet":
            char = LEET[char]
        out.append(char)
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(INVISIBLE)))
    return category, "a photo of " + "".join(out) + " in the park"


@settings(max_examples=400, deadline=None)
@given(disguised())
def test_the_deny_list_sees_through_invisible_characters_look_alikes_and_leetspeak(
    case: tuple[str, str],
) -> None:
    category, prompt = case
    assert category in DENY.matches(prompt), prompt


def test_the_examples_from_the_report_are_caught() -> None:
    for prompt in ("n\u200bude", "nud\u0435", "\u0455\u0435x", "n\u200bu\u200bd\u0435 statue"):
        assert CHECKER.check_prompt(prompt, enabled=True) is not None, prompt
    # The always-on rule on minors sees through the same disguises.
    verdict = CHECKER.check_prompt("nud\u0435 \u0441hild", enabled=False)
    assert verdict is not None and verdict.always


def test_ordinary_prompts_are_never_blocked() -> None:
    prompts = [
        line.strip()
        for line in CORPUS.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(prompts) >= 300
    blocked = [p for p in prompts if CHECKER.check_prompt(p, enabled=True) is not None]
    assert blocked == []


def test_a_prompt_of_invisible_characters_is_empty_after_cleaning() -> None:
    assert clean_prompt("\u200b\u200d\u2060\ufeff \u3164\u202e") == ""
    assert clean_prompt("the fox\u200b turns\u202e  its\nhead") == "the fox turns its head"


# --- what the bot posts -----------------------------------------------------------------

PING = re.compile(r"@(everyone|here)|<@[!&]?\d+>", re.I)
MASKED_LINK = re.compile(r"\[[^\]]*\]\(")
HOSTILE = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "@everyone",
                "@here",
                "@ everyone",
                "<@123456789012345678>",
                "<@!123456789012345678>",
                "<@&987654321098765432>",
                "[free nitro](https://evil.example/x)",
                "[click](<https://evil.example>)",
                "](",
                "[",
                "@",
                "\u202e",
                "\u2066",
                "\u200b",
                "\n",
                "`",
            ]
        ),
    ),
    max_size=12,
).map("".join)


def _job(prompt: str, error: str) -> JobRecord:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    return JobRecord(
        id="0123456789ab",
        platform="discord",
        user_key="discord:1",
        guild_key="discord:2",
        channel_id="3",
        reply_ref={},
        request={"prompt": prompt, "frames": 90, "resolution": "480p"},
        provider="fal",
        provider_handle=None,
        state=JobState.FAILED,
        progress=0.0,
        status_detail={},
        error=error,
        cost_mc=3000,
        seed=1,
        result_path=None,
        delivered=False,
        created_at=now,
        updated_at=now,
        finished_at=now,
        delivered_at=None,
    )


@settings(max_examples=300, deadline=None)
@given(prompt=HOSTILE, error=HOSTILE)
def test_no_text_the_bot_posts_can_ping_or_mask_a_link(prompt: str, error: str) -> None:
    posted = [
        messages.caption(prompt, "fal", 42, 3, 3000, 57000),
        messages.failed(error),
        messages.job_record(_job(prompt, error), {"reserve": 3000}),
        quote(prompt),
    ]
    for text in posted:
        assert not PING.search(text), text
        assert not MASKED_LINK.search(text), text
        controls = {c for c in text if unicodedata.category(c) in ("Cc", "Cf")} - {"\n", "\u200b"}
        assert not controls, text

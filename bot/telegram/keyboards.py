"""Inline buttons whose callback_data (at most 64 bytes) is the action and the job id,
so they keep working after a restart: nothing but the button itself is needed."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

CALLBACK = re.compile(r"^fp:(?P<action>cancel|keep|retry|extend|hd|remix):(?P<job>[0-9a-f]{12})$")
LABELS = {
    "cancel": "Cancel",
    "keep": "Stop & keep",
    "retry": "Retry",
    "extend": "Extend",
    "hd": "HD",
    "remix": "Remix",
}


def job_keyboard(job_id: str, *actions: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(LABELS[a], callback_data=f"fp:{a}:{job_id}") for a in actions]]
    )

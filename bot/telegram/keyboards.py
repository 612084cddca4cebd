"""Inline buttons whose callback_data (at most 64 bytes) is the action and the job id,
so they keep working after a restart: nothing but the button itself is needed."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core import messages
from bot.i18n import current, use

CALLBACK = re.compile(r"^fp:(?P<action>cancel|keep|retry|extend|hd|remix):(?P<job>[0-9a-f]{12})$")


def job_keyboard(job_id: str, *actions: str, locale: str | None = None) -> InlineKeyboardMarkup:
    """Labelled in `locale`, or in the language in force when None (a reply's)."""
    with use(locale or current()):
        row = [
            InlineKeyboardButton(messages.button_label(a), callback_data=f"fp:{a}:{job_id}")
            for a in actions
        ]
    return InlineKeyboardMarkup([row])

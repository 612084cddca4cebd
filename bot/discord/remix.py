"""What a Remix form sends back: the new prompt, made into a job with the old job's
image(s), seed and options. Read from the interaction itself (the form is not kept in
discord.py's store), so a form opened before a restart still works after it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any, cast

import discord
from discord.ext import commands

from bot.core import messages
from bot.core.api import FollowUp
from bot.discord.buttons import show_outcome
from bot.discord.payloads import REMIX_FORM_ID
from bot.discord.replies import reply_ref_of, requester_of
from bot.discord.shared import answer, parts_of, report_failure, speak_to

log = logging.getLogger(__name__)

_FORM = re.compile(REMIX_FORM_ID)


class RemixCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.service = parts_of(bot).service

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data = cast(Mapping[str, Any], interaction.data or {})
        match = _FORM.fullmatch(str(data.get("custom_id", "")))
        if match is None:
            return
        await speak_to(interaction)
        try:
            await self._submit(interaction, match["job"], _value(data, "prompt"))
        except Exception as exc:
            await report_failure(interaction, exc)

    async def _submit(self, interaction: discord.Interaction, job_id: str, prompt: str) -> None:
        callback = await interaction.response.defer(thinking=True, ephemeral=True)
        if not prompt.strip():
            await answer(interaction, messages.PROMPT_EMPTY)
            return
        outcome = await self.service.follow_up(
            job_id,
            requester_of(interaction),
            kind=FollowUp.REMIX,
            prompt=prompt,
            reply_ref=reply_ref_of(interaction, callback),
            source=f"discord:interaction:{interaction.id}",
        )
        await show_outcome(interaction, outcome)


def _value(data: Mapping[str, Any], custom_id: str) -> str:
    """A text input's value in a form submit, wherever the layout nests it (action
    rows, or labels in newer clients); "" when absent or not text."""
    for component in _components(data.get("components")):
        if component.get("custom_id") == custom_id and isinstance(component.get("value"), str):
            return str(component["value"])
    return ""


def _components(items: Any) -> Iterator[Mapping[str, Any]]:
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping):
            yield item
            yield from _components(item.get("components"))
            if isinstance(item.get("component"), Mapping):
                yield item["component"]


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(RemixCog(bot))

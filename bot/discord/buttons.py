"""Buttons that keep working after a restart: the job id lives in the custom_id and a
DynamicItem rebuilds the button from it (registered with bot.add_dynamic_items)."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord.ext import commands

from bot.core.api import Accepted, Refused
from bot.discord.payloads import JOB_BUTTON_ID
from bot.discord.replies import only_mentioning, reply_ref_of, requester_of
from bot.discord.shared import parts_of, report_failure

STYLES = {
    "cancel": ("Cancel", discord.ButtonStyle.danger),
    "retry": ("Retry", discord.ButtonStyle.secondary),
    "extend": ("Extend", discord.ButtonStyle.primary),
}


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=JOB_BUTTON_ID,
):
    def __init__(self, action: str, job_id: str) -> None:
        label, style = STYLES[action]
        super().__init__(
            discord.ui.Button(label=label, style=style, custom_id=f"fp:{action}:{job_id}")
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> JobButton:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        # discord.py only logs what a dynamic item's callback raises: answer the user too.
        try:
            await self._act(interaction)
        except Exception as exc:
            await report_failure(interaction, exc)

    async def _act(self, interaction: discord.Interaction) -> None:
        # First, always: the 3-second rule; the work below writes to the database and
        # may start a new job.
        callback = await interaction.response.defer(thinking=True, ephemeral=True)
        service = parts_of(interaction.client).service
        who = requester_of(interaction)
        if self.action == "cancel":
            # The core decides: the owner, an admin of the job's server, or an operator.
            cancelled = await service.cancel(self.job_id, by=who)
            await interaction.edit_original_response(
                content=cancelled.message, allowed_mentions=only_mentioning()
            )
            return
        outcome = await service.follow_up(
            self.job_id,
            who,
            extend=self.action == "extend",
            reply_ref=reply_ref_of(interaction, callback),
            source=f"discord:interaction:{interaction.id}",
        )
        await interaction.edit_original_response(
            content=outcome.message,
            view=job_view(getattr(outcome, "job_id", None), "cancel"),
            allowed_mentions=only_mentioning(),
        )


async def show_outcome(interaction: discord.Interaction, outcome: Accepted | Refused) -> None:
    """Accepted: the cost and queue place, with a Cancel button; Refused: what was wrong.
    Either way in the interaction's (private) status message."""
    view = job_view(outcome.job_id, "cancel") if isinstance(outcome, Accepted) else None
    await interaction.edit_original_response(
        content=outcome.message, view=view, allowed_mentions=only_mentioning()
    )


def job_view(job_id: str | None, *actions: str) -> discord.ui.View | None:
    """A persistent view with buttons for a job: job_view(job_id, "retry", "extend")."""
    if job_id is None:
        return None
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(JobButton)

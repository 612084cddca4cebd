"""Buttons that keep working after a restart: the job id lives in the custom_id and a
DynamicItem rebuilds the button from it (registered with bot.add_dynamic_items).
Remix answers with a form prefilled with the old prompt; bot.discord.remix takes what
the form sends back."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord.ext import commands

from bot.core import messages
from bot.core.api import Accepted, FollowUp, JobAPI, Refused, Requester
from bot.discord.payloads import JOB_BUTTON_ID
from bot.discord.replies import only_mentioning, reply_ref_of, requester_of
from bot.discord.shared import parts_of, report_failure, speak_to
from bot.i18n import _, current, use

PROMPT_LIMIT = 500  # the core's (fal's) prompt limit, as /animate's prompt option says

STYLES = {
    "cancel": discord.ButtonStyle.danger,
    "keep": discord.ButtonStyle.primary,
    "hd": discord.ButtonStyle.success,
    "retry": discord.ButtonStyle.secondary,
    "extend": discord.ButtonStyle.primary,
    "remix": discord.ButtonStyle.secondary,
}


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=JOB_BUTTON_ID,
):
    def __init__(self, action: str, job_id: str) -> None:
        # The label in the language in force (a button rebuilt from a press is not shown).
        super().__init__(
            discord.ui.Button(
                label=messages.button_label(action),
                style=STYLES[action],
                custom_id=f"fp:{action}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> JobButton:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await speak_to(interaction)
        # discord.py only logs what a dynamic item's callback raises: answer the user too.
        try:
            await self._act(interaction)
        except Exception as exc:
            await report_failure(interaction, exc)

    async def _act(self, interaction: discord.Interaction) -> None:
        service = parts_of(interaction.client).service
        who = requester_of(interaction)
        if self.action == "remix":  # a form is the first answer, so no defer
            await ask_for_prompt(interaction, service, self.job_id, who)
            return
        # First, always: the 3-second rule; the work below writes to the database and
        # may start a new job.
        callback = await interaction.response.defer(thinking=True, ephemeral=True)
        if self.action in ("cancel", "keep"):
            # The core decides: the owner, an admin of the job's server, or an operator.
            stop = service.cancel if self.action == "cancel" else service.keep
            stopped = await stop(self.job_id, by=who)
            await interaction.edit_original_response(
                content=stopped.message, allowed_mentions=only_mentioning()
            )
            return
        outcome = await service.follow_up(
            self.job_id,
            who,
            kind=FollowUp(self.action),
            reply_ref=reply_ref_of(interaction, callback),
            source=f"discord:interaction:{interaction.id}",
        )
        await interaction.edit_original_response(
            content=outcome.message,
            view=job_view(getattr(outcome, "job_id", None), "cancel"),
            allowed_mentions=only_mentioning(),
        )


class RemixForm(discord.ui.Modal):
    """Made per press, in the language in force (45 characters for title and label)."""

    def __init__(self, job_id: str, old_prompt: str) -> None:
        super().__init__(title=_("Remix: a new prompt"), custom_id=f"fp:remix-modal:{job_id}")
        self.prompt: discord.ui.TextInput[RemixForm] = discord.ui.TextInput(
            style=discord.TextStyle.long,
            max_length=PROMPT_LIMIT,
            custom_id="prompt",
            default=old_prompt[:PROMPT_LIMIT],
        )
        self.add_item(discord.ui.Label(text=_("What should happen now?"), component=self.prompt))


async def ask_for_prompt(
    interaction: discord.Interaction, service: JobAPI, job_id: str, who: Requester
) -> None:
    """The Remix form, prefilled with the job's prompt — once the core says `who` may
    remix it (the prompt is someone's words)."""
    old = await service.remix_prompt(job_id, who)
    if isinstance(old, Refused):
        await interaction.response.send_message(old.message, ephemeral=True)
        return
    form = RemixForm(job_id, old)
    await interaction.response.send_modal(form)
    # Out of discord.py's store again: every submit, before a restart or after one,
    # goes the same way (bot.discord.remix reads it from the interaction).
    form.stop()


async def show_outcome(interaction: discord.Interaction, outcome: Accepted | Refused) -> None:
    """Accepted: the cost and queue place, with a Cancel button; Refused: what was wrong.
    Either way in the interaction's (private) status message."""
    view = job_view(outcome.job_id, "cancel") if isinstance(outcome, Accepted) else None
    await interaction.edit_original_response(
        content=outcome.message, view=view, allowed_mentions=only_mentioning()
    )


def job_view(
    job_id: str | None, *actions: str, locale: str | None = None
) -> discord.ui.View | None:
    """A persistent view with buttons for a job: job_view(job_id, "retry", "extend");
    the actions are FollowUp values, "cancel" or "keep". Labelled in `locale`, or in
    the language in force when None (an interaction's answer)."""
    if job_id is None:
        return None
    view = discord.ui.View(timeout=None)
    with use(locale or current()):
        for action in actions:
            view.add_item(JobButton(action, job_id))
    return view


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(JobButton)

"""What every cog needs: the parts the bot was built with, the rate check, and one way
to answer an interaction whatever state it is in. The cogs import this, never the
`Bot` subclass (`bot.discord.client` loads them by name), so the package has no
import circle."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol, cast

import discord
from discord import app_commands

from bot.config import Settings
from bot.core import messages
from bot.core.api import JobAPI, RequestRate
from bot.discord.replies import requester_of
from bot.i18n import speak

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parts:
    """What the bot was built with, for its cogs."""

    service: JobAPI
    settings: Settings
    # One rate per member for the slash command, the menu and replies together.
    rate_limit: RequestRate


class _HasParts(Protocol):
    parts: Parts


def parts_of(client: discord.Client) -> Parts:
    """The parts of the bot an interaction or a cog belongs to (discord.py types it as
    a plain Client; `bot.discord.client.FramepackBot` sets `parts`)."""
    return cast(_HasParts, client).parts


def offer_only(command: Any, parameter: str, values: Collection[str]) -> None:
    """Narrow a choice option of an app command to `values` (the providers this bot
    runs). discord.py builds the choices from the annotation, when the module loads,
    before any configuration is known; each cog holds its own copy of its commands,
    so this changes only the one being set up."""
    option = command._params[parameter]
    command._params[parameter] = dataclasses.replace(
        option, choices=[choice for choice in option.choices if choice.value in values]
    )


async def speak_to(interaction: discord.Interaction) -> None:
    """What this interaction's task says from now on reads in the user's language: the
    one they chose (/language), else their Discord's."""
    service = parts_of(interaction.client).service
    speak(await service.language_of(requester_of(interaction)))


async def within_rate_limit(interaction: discord.Interaction) -> bool:
    """An app-command check: over the user's rate, discord.py's CommandOnCooldown (the
    tree's error handler says when to try again)."""
    limit = parts_of(interaction.client).rate_limit
    retry_after = await limit.hit(interaction.user.id)
    if retry_after:
        raise app_commands.CommandOnCooldown(
            app_commands.Cooldown(limit.rate, limit.per_s), retry_after
        )
    return True


def rate_limited() -> Callable[[Any], Any]:
    return app_commands.check(within_rate_limit)


async def answer(interaction: discord.Interaction, text: str) -> None:
    """Say one private line, whatever state the interaction is in: the first answer,
    or an edit of the 'thinking…' message a defer left. Never raises."""
    try:
        if interaction.response.is_done():
            await interaction.edit_original_response(
                content=text, view=None, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction %s: %s", interaction.id, exc)


async def report_failure(interaction: discord.Interaction, error: BaseException) -> None:
    """For views, modals and buttons: log the detail, tell the user one line."""
    log.error("interaction %s failed", interaction.id, exc_info=error)
    await answer(interaction, messages.GENERIC_ERROR)

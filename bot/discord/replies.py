"""From a Discord interaction to the service's vocabulary: who asked, and where to answer."""

from __future__ import annotations

from typing import Any

import discord

from bot.core.api import Accepted, Refused, Requester
from bot.core.quotas import subject_key


def requester_of(interaction: discord.Interaction) -> Requester:
    return _requester(interaction.user, interaction.guild_id, interaction.channel_id)


def requester_from_message(message: discord.Message) -> Requester:
    return _requester(
        message.author, message.guild.id if message.guild else None, message.channel.id
    )


def _requester(user: discord.abc.User, guild_id: int | None, channel_id: int) -> Requester:
    roles: tuple[str, ...] = ()
    if isinstance(user, discord.Member):
        roles = tuple(subject_key("discord", role.id) for role in user.roles)
    return Requester(
        platform="discord",
        user_key=subject_key("discord", user.id),
        guild_key=subject_key("discord", guild_id) if guild_id else None,
        channel_key=subject_key("discord", channel_id),
        channel_id=str(channel_id),
        role_keys=roles,
    )


async def show_outcome(interaction: discord.Interaction, outcome: Accepted | Refused) -> None:
    """Accepted: the cost and queue place, with a Cancel button; Refused: what was wrong.
    Either way in the interaction's (private) status message."""
    from bot.discord.buttons import job_view

    view = job_view("cancel", outcome.job_id) if isinstance(outcome, Accepted) else None
    await interaction.edit_original_response(content=outcome.message, view=view)


def reply_ref_of(interaction: discord.Interaction, callback: Any = None) -> dict[str, Any]:
    """What a later process needs to answer: the interaction token (15 minutes), the
    status message, and the upload limit Discord announced for this interaction."""
    message_id = getattr(callback, "message_id", None)
    return {
        "application_id": str(interaction.application_id),
        "token": interaction.token,
        "created_at": interaction.created_at.timestamp(),
        "message_id": str(message_id) if message_id else None,
        "attachment_size_limit": getattr(interaction, "attachment_size_limit", None),
    }

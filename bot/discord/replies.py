"""From a Discord interaction to the service's vocabulary: who asked, and where to answer."""

from __future__ import annotations

from typing import Any

import discord

from bot.quotas import subject_key
from bot.service import Requester


def requester_of(interaction: discord.Interaction) -> Requester:
    roles: tuple[str, ...] = ()
    if isinstance(interaction.user, discord.Member):
        roles = tuple(subject_key("discord", role.id) for role in interaction.user.roles)
    return Requester(
        platform="discord",
        user_key=subject_key("discord", interaction.user.id),
        guild_key=subject_key("discord", interaction.guild_id) if interaction.guild_id else None,
        channel_key=subject_key("discord", interaction.channel_id),
        channel_id=str(interaction.channel_id),
        role_keys=roles,
    )


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

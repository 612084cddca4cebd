"""From a Discord interaction to the service's vocabulary: who asked, and where to answer."""

from __future__ import annotations

from typing import Any

import discord

from bot.core.api import Requester, subject_key
from bot.i18n import supported


def requester_of(interaction: discord.Interaction) -> Requester:
    # The member's resolved permissions, as Discord sent them with the interaction.
    manage_guild = interaction.guild_id is not None and interaction.permissions.manage_guild
    return _requester(
        interaction.user,
        interaction.guild_id,
        interaction.channel,
        manage_guild=manage_guild,
        locale=locale_of(interaction),
        # Not Discord's guild_locale: it reads en-US in every server that is not a
        # Community one, and would caption everyone's videos in English. A server's
        # language is what its admins set (/fpadmin language).
        server_locale=None,
    )


def locale_of(interaction: discord.Interaction) -> str:
    """The language of the user's Discord client, as one of ours (bot.i18n)."""
    return supported(interaction.locale.value)


def requester_from_message(message: discord.Message) -> Requester:
    author = message.author
    manage_guild = (
        isinstance(author, discord.Member)
        and isinstance(message.channel, discord.abc.GuildChannel)
        and message.channel.permissions_for(author).manage_guild
    )
    # A message says nothing of its author's language: the server's, where it has one.
    locale = message.guild.preferred_locale.value if message.guild else None
    return _requester(
        author,
        message.guild.id if message.guild else None,
        message.channel,
        manage_guild,
        locale=supported(locale),
        server_locale=None,
    )


def _requester(
    user: discord.abc.User,
    guild_id: int | None,
    channel: Any,
    manage_guild: bool,
    locale: str,
    server_locale: str | None,
) -> Requester:
    roles: tuple[str, ...] = ()
    if isinstance(user, discord.Member):
        roles = tuple(subject_key("discord", role.id) for role in user.roles)
    return Requester(
        platform="discord",
        user_key=subject_key("discord", user.id),
        guild_key=subject_key("discord", guild_id) if guild_id else None,
        channel_key=subject_key("discord", channel.id),
        channel_id=str(channel.id),
        role_keys=roles,
        platform_admin=bool(manage_guild),
        channel_nsfw=age_restricted(channel),
        locale=locale,
        server_locale=server_locale,
    )


def age_restricted(channel: Any) -> bool:
    """An NSFW channel (threads inherit their parent's flag); False for DMs."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def only_mentioning(user_id: int | None = None) -> discord.AllowedMentions:
    """What a message of ours may ping: nobody, or the one user it is for."""
    if user_id is None:
        return discord.AllowedMentions.none()
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(id=user_id)]
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

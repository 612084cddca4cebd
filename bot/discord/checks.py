"""Who counts as a bot admin on Discord. Enforced in code: `default_permissions` is only
a hint that server admins can override, and it is ignored on subcommands."""

from __future__ import annotations

import discord

from bot.config import Settings


def is_admin(interaction: discord.Interaction, settings: Settings) -> bool:
    admins = settings.admins
    if interaction.user.id in admins.discord_user_ids:
        return True
    if interaction.guild_id is None:
        return False
    # The member's resolved permissions, as Discord sent them with the interaction.
    if interaction.permissions.manage_guild:
        return True
    member = interaction.user
    return isinstance(member, discord.Member) and any(
        role.id in admins.discord_role_ids for role in member.roles
    )

"""Who may do what: one model for every platform and the CLI.

- Operators (the ids in `[admins]`, and whoever runs the CLI) may do everything,
  bot-wide.
- Guild admins (Discord: Manage Server or a configured admin role; Telegram: the
  group's administrators) act inside their own server or group only: caps for its
  members and roles (which apply on top of the bot-wide caps, never instead of them),
  its settings and its channels' settings, and the jobs started there.
- Users act on their own jobs.

Adapters report platform facts (is this member a platform admin here, is this
channel age-restricted) in the `Requester`; the decisions are made here, so a new
platform adds no authority code of its own. A job id, a button id or a message link
grants nothing by itself: every decision looks at who asks and where.
"""

from __future__ import annotations

from enum import IntEnum

from bot.config import Settings
from bot.core import messages
from bot.core.api import Denied as Denied
from bot.core.api import Requester
from storage import JobRecord


class Standing(IntEnum):
    USER = 0
    GUILD_ADMIN = 1
    OPERATOR = 2


class Authority:
    def __init__(self, settings: Settings) -> None:
        admins = settings.admins
        self._operators = frozenset(
            [f"discord:{i}" for i in admins.discord_user_ids]
            + [f"telegram:{i}" for i in admins.telegram_user_ids]
        )
        self._admin_roles = frozenset(f"discord:{i}" for i in admins.discord_role_ids)
        self._guild_admins_may_lift_safety = settings.safety.guild_admins_may_disable

    def is_operator_key(self, user_key: str) -> bool:
        return user_key in self._operators or user_key.startswith("cli:")

    def standing(self, who: Requester) -> Standing:
        """Operator anywhere; guild admin only where they are one (the requester's
        guild); a user otherwise."""
        if who.platform == "cli" or self.is_operator_key(who.user_key):
            return Standing.OPERATOR
        if who.guild_key is not None and (
            who.platform_admin or any(role in self._admin_roles for role in who.role_keys)
        ):
            return Standing.GUILD_ADMIN
        return Standing.USER

    # --- decisions ----------------------------------------------------------------------------

    def require_admin(self, who: Requester) -> Standing:
        standing = self.standing(who)
        if standing < Standing.GUILD_ADMIN:
            raise Denied(messages.ADMIN_ONLY)
        return standing

    def require_operator(self, who: Requester, what: str) -> None:
        if self.standing(who) < Standing.OPERATOR:
            raise Denied(messages.operators_only(what))

    def require_guild(self, who: Requester, guild_key: str | None) -> None:
        """Acting on something that belongs to `guild_key` (None: bot-wide)."""
        standing = self.require_admin(who)
        if standing is Standing.OPERATOR:
            return
        if guild_key is None or guild_key != who.guild_key:
            raise Denied(messages.OWN_SERVER_ONLY)

    def may_see_job(self, who: Requester, job: JobRecord) -> bool:
        """Admin view of a job: operators, or admins of the server it was started in."""
        standing = self.standing(who)
        if standing is Standing.OPERATOR:
            return True
        return (
            standing is Standing.GUILD_ADMIN
            and job.guild_key is not None
            and job.guild_key == who.guild_key
        )

    def may_cancel(self, who: Requester, job: JobRecord) -> bool:
        return job.user_key == who.user_key or self.may_see_job(who, job)

    def may_follow_up(self, who: Requester, job: JobRecord) -> bool:
        """Retry/Extend (charged to the clicker): their own job, or a video that was
        posted where they are (same channel) — the button only exists there."""
        if job.user_key == who.user_key or self.standing(who) is Standing.OPERATOR:
            return True
        return job.channel_id is not None and job.channel_id == who.channel_id

    def check_safety_change(self, who: Requester, enabled: bool, channel_nsfw: bool | None) -> None:
        """Switching the checker on is always allowed to an admin of the place; off only
        for operators, or for a guild admin in an age-restricted channel where the
        operators allow it (`safety.guild_admins_may_disable`)."""
        if enabled or self.standing(who) is Standing.OPERATOR:
            return
        if not self._guild_admins_may_lift_safety:
            raise Denied(messages.SAFETY_OPERATORS_ONLY)
        if not channel_nsfw:
            raise Denied(messages.SAFETY_NSFW_ONLY)

    def safety_off_honoured(self, set_by: str, channel_nsfw: bool) -> bool:
        """At job time: a stored 'off' counts if an operator set it, or if it is in an
        age-restricted channel and operators (still) allow guild admins to lift it."""
        if self.is_operator_key(set_by):
            return True
        return channel_nsfw and self._guild_admins_may_lift_safety

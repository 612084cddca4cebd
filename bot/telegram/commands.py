"""/start, /help, /quota, /jobs, and the admin commands. Only parsing and rendering live
here: every decision and change is the core's admin API (`bot.core.admin`), the same
one Discord's /fpadmin and the CLI call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.core import messages
from bot.core.api import (
    AdminAPI,
    AdminRefused,
    JobAPI,
    QuotaTarget,
    Requester,
    credits_to_mc,
    subject_key,
)
from bot.i18n import LANGUAGE_NAMES, LOCALES
from bot.telegram import texts
from bot.telegram.replies import reply
from bot.telegram.who import ChatAdmins

ON = {"on", "yes", "true", "1", "enable"}
OFF = {"off", "no", "false", "0", "disable"}

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


class Usage(Exception):
    """The command's arguments could not be read; the message says how to write them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Commands:
    def __init__(self, service: JobAPI, admins: ChatAdmins) -> None:
        self.service = service
        self.admin: AdminAPI = service.admin
        self.admins = admins

    def handlers(self) -> dict[str, Handler]:
        return {
            "start": self.start,
            "help": self.help,
            "quota": self.quota,
            "jobs": self.jobs,
            "language": self.language,
            "quota_set": self._admin(self.quota_set),
            "quota_grant": self._admin(self.quota_grant),
            "quota_reset": self._admin(self.quota_reset),
            "safety": self._admin(self.safety),
            "provider": self._admin(self.provider),
            "replies": self._admin(self.replies),
            "group_language": self._admin(self.group_language),
            "job": self._admin(self.job),
        }

    # --- for everyone ----------------------------------------------------------------------

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, who = await self._who(update, context)
        name = message.from_user.first_name if message.from_user else "there"
        await reply(message, texts.greeting(name, await self._quota_text(who)))

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, _ = await self._who(update, context)
        await reply(message, texts.HELP)

    async def quota(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, who = await self._who(update, context)
        await reply(message, await self._quota_text(who))

    async def jobs(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, who = await self._who(update, context)
        history = await self.service.history(who.user_key, limit=10)
        # Without Discord's code marks, which Telegram would show as they are.
        await reply(message, messages.job_history(history).replace("`", ""))

    async def language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/language ja (or auto: the app's language); without one, the list."""
        message, who = await self._who(update, context)
        wanted = (context.args or [""])[0]
        if wanted.lower() == "auto":
            await reply(message, await self.service.set_language(who, None))
            return
        choice = _locale_named(wanted)
        if choice is None:
            await reply(message, language_menu())
            return
        await reply(message, await self.service.set_language(who, choice))

    async def _quota_text(self, who: Requester) -> str:
        return await self.service.quota_summary(who)

    # --- for admins (the core decides who is one, and where) -------------------------------

    def _admin(
        self, operation: Callable[[Requester, Message, list[str]], Awaitable[str]]
    ) -> Handler:
        async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message, who = await self._who(update, context, ask_admin=True)
            try:
                text = await operation(who, message, list(context.args or []))
            except (AdminRefused, Usage) as exc:
                text = exc.message
            await reply(message, text)

        return run

    async def quota_set(self, who: Requester, message: Message, args: list[str]) -> str:
        target, rest = _target(who, message, args)
        if not rest or len(rest) > 2:
            raise Usage(texts.usage_of("quota_set", "<user id | reply | group> <daily> [monthly]"))
        daily, monthly = (_credits(rest[0]), _credits(rest[1]) if len(rest) > 1 else None)
        return await self.admin.quota_set(who, target, daily_mc=daily, monthly_mc=monthly)

    async def quota_grant(self, who: Requester, message: Message, args: list[str]) -> str:
        target, rest = _target(who, message, args)
        if len(rest) != 1:
            raise Usage(texts.usage_of("quota_grant", "<user id | reply | group> <credits>"))
        return await self.admin.quota_grant(who, target, _credits(rest[0]))

    async def quota_reset(self, who: Requester, message: Message, args: list[str]) -> str:
        target, rest = _target(who, message, args)
        period = (rest or ["all"])[0].lower()
        if len(rest) > 1 or period not in ("day", "month", "all"):
            raise Usage(texts.usage_of("quota_reset", "<user id | reply | group> [day|month|all]"))
        periods = ["day", "month"] if period == "all" else [period]
        return await self.admin.quota_reset(who, target, periods)

    async def safety(self, who: Requester, message: Message, args: list[str]) -> str:
        return await self.admin.set_setting(who, "safety", _on_off(args))

    async def replies(self, who: Requester, message: Message, args: list[str]) -> str:
        return await self.admin.set_setting(who, "reply_without_mention", _on_off(args))

    async def provider(self, who: Requester, message: Message, args: list[str]) -> str:
        if len(args) != 1:
            raise Usage(texts.usage_of("provider", f"<{texts.PROVIDERS}>"))
        return await self.admin.set_setting(who, "provider", args[0].lower())

    async def group_language(self, who: Requester, message: Message, args: list[str]) -> str:
        """The captions' language in this group, for those who chose none (none: each
        requester's)."""
        wanted = args[0].lower() if len(args) == 1 else ""
        choice = _locale_named(wanted)
        if choice is None and wanted != "none":
            raise Usage(texts.usage_of("group_language", f"<{' | '.join(LOCALES)} | none>"))
        return await self.admin.set_setting(who, "language", choice or "")

    async def job(self, who: Requester, message: Message, args: list[str]) -> str:
        if not args or len(args) > 2 or (len(args) == 2 and args[1].lower() != "cancel"):
            raise Usage(texts.usage_of("job", "<job id> [cancel]"))
        if len(args) == 2:
            return await self.admin.job_cancel(who, args[0])
        return await self.admin.job_info(who, args[0])

    async def _who(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, *, ask_admin: bool = False
    ) -> tuple[Message, Requester]:
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None  # command handlers see messages
        who = await self.admins.requester(context.bot, user, message.chat, ask_admin=ask_admin)
        return message, who


def _target(who: Requester, message: Message, args: list[str]) -> tuple[QuotaTarget, list[str]]:
    """Whose quota: the author of the replied-to message, a numeric user id, or `group`.
    In a group: caps in that group; in a private chat: bot-wide (operators only)."""
    bot_wide = who.guild_key is None
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and not replied.from_user.is_bot:
        user_id = replied.from_user.id
    elif args and args[0].lower() == "group":
        return QuotaTarget("guild", bot_wide=bot_wide), args[1:]
    elif args and args[0].lstrip("-").isdigit():
        user_id, args = int(args[0]), args[1:]
    else:
        raise Usage(texts.WHOM)
    return QuotaTarget("user", subject_key("telegram", user_id), bot_wide), args


def _credits(text: str) -> int:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise Usage(messages.bad_option("credits", messages.MUST_BE_NUMBER)) from None
    if not 0 <= value <= 10_000_000:
        raise Usage(messages.bad_option("credits", messages.between(0, 10_000_000)))
    return credits_to_mc(round(value, 3))


def _on_off(args: list[str]) -> bool:
    word = args[0].lower() if len(args) == 1 else ""
    if word in ON:
        return True
    if word in OFF:
        return False
    raise Usage(texts.ON_OFF)


def _locale_named(text: str) -> str | None:
    """One of our locales as a user typed it (any case: "pt-br"), else None."""
    return next((name for name in LOCALES if name.lower() == text.lower()), None)


def language_menu() -> str:
    """What /language offers, each language named in itself."""
    choices = "\n".join(f"/language {code} · {name}" for code, name in LANGUAGE_NAMES.items())
    return f"{messages.LANGUAGE_MENU}\n{choices}\n/language auto"

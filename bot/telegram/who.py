"""From a Telegram update to the core's Requester: who asked, in which chat, and
whether Telegram says they administer it (asked once per chat every few minutes)."""

from __future__ import annotations

import time
from collections.abc import Callable

from telegram import Bot, Chat, ChatMemberAdministrator, ChatMemberOwner, User
from telegram.error import TelegramError

from bot.core.api import Requester, subject_key
from bot.i18n import supported

ADMIN_CACHE_S = 300.0


def is_group(chat: Chat) -> bool:
    return chat.type in (Chat.GROUP, Chat.SUPERGROUP)


class ChatAdmins:
    """Administrators per group, from getChatAdministrators, kept ADMIN_CACHE_S
    seconds: admin commands and Cancel presses need it, and Telegram rate-limits
    the call like any other."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cache: dict[int, tuple[float, frozenset[int]]] = {}

    async def of(self, bot: Bot, chat_id: int) -> frozenset[int]:
        cached = self._cache.get(chat_id)
        if cached is not None and self._clock() - cached[0] < ADMIN_CACHE_S:
            return cached[1]
        members = await bot.get_chat_administrators(chat_id)
        admins = frozenset(
            m.user.id for m in members if isinstance(m, ChatMemberOwner | ChatMemberAdministrator)
        )
        self._cache[chat_id] = (self._clock(), admins)
        return admins

    async def requester(
        self, bot: Bot, user: User, chat: Chat, *, ask_admin: bool = False
    ) -> Requester:
        """`ask_admin`: find out whether the user administers this group (a request to
        Telegram, cached); only decisions about authority need it."""
        group = is_group(chat)
        admin = False
        if group and ask_admin:
            try:
                admin = user.id in await self.of(bot, chat.id)
            except TelegramError:
                admin = False  # unknown counts as not an admin
        chat_key = subject_key("telegram", chat.id)
        return Requester(
            platform="telegram",
            user_key=subject_key("telegram", user.id),
            guild_key=chat_key if group else None,
            channel_key=chat_key,
            channel_id=str(chat.id),
            platform_admin=admin,
            # Telegram has no age-restricted chats: safety is lifted only by operators.
            channel_nsfw=False,
            locale=supported(user.language_code),
        )

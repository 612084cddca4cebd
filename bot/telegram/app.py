"""The Telegram adapter: one python-telegram-bot Application with every handler
registered here, run beside other platforms (initialize/start/polling, never
run_polling, which would take over the event loop)."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.config import Settings
from bot.core import messages
from bot.core.api import JobAPI, Requester, subject_key
from bot.i18n import N_, SOURCE, _, speak, supported, use
from bot.telegram.animate import AnimateHandlers
from bot.telegram.buttons import Buttons
from bot.telegram.commands import Commands
from bot.telegram.delivery import TelegramDelivery
from bot.telegram.poller import PollerLease, PollingErrors
from bot.telegram.replies import reply
from bot.telegram.send_budget import Priority, SendBudget, sending
from bot.telegram.send_share import BudgetShare
from bot.telegram.status import StatusBoard
from bot.telegram.who import ChatAdmins

log = logging.getLogger(__name__)

# A 50 MB upload on a slow link: PTB's default media write timeout is 20 s.
MEDIA_WRITE_TIMEOUT_S = 300.0
# Updates handled at once: each waits on Telegram, downloads and the database, so
# handling them one after another (PTB's default) would queue a burst behind the first.
CONCURRENT_UPDATES = 256

# The command menu, in English and in every language of ours (see commands_in).
PRIVATE_COMMANDS = [
    ("animate", N_("Animate a photo: reply to it, or caption it /animate <prompt>")),
    ("quota", N_("Your credits left")),
    ("jobs", N_("Your recent videos")),
    ("help", N_("How to use the bot, and its options")),
    ("language", N_("The language I answer you in")),
]
GROUP_COMMANDS = [
    *PRIVATE_COMMANDS,
    ("quota_set", N_("Admins: a member's daily/monthly credits here")),
    ("quota_grant", N_("Admins: extra credits for a member")),
    ("quota_reset", N_("Admins: forget a member's use")),
    ("provider", N_("Admins: the video service for this group")),
    ("replies", N_("Admins: answer replies to photos without a mention")),
    ("safety", N_("Admins: the safety checker on or off")),
    ("group_language", N_("Admins: the language of this group's video captions")),
    ("job", N_("Admins: look at or cancel a job of this group")),
]
# setMyCommands takes ISO 639-1 codes: one menu per language (Chinese: Simplified).
MENU_LANGUAGES = {None: SOURCE, "ja": "ja", "zh": "zh-CN", "ru": "ru", "es": "es-ES", "pt": "pt-BR"}


def commands_in(locale: str, commands: list[tuple[str, str]]) -> list[BotCommand]:
    with use(locale):
        return [BotCommand(name, _(description)) for name, description in commands]


class TelegramAdapter:
    name = "telegram"

    def __init__(self, service: JobAPI, settings: Settings) -> None:
        config = settings.telegram
        assert config.token is not None
        self.settings = settings
        self.service = service
        self.budget = SendBudget()
        self.share: BudgetShare | None = None  # from start(): it needs the bot's id
        self.application = (
            Application.builder()
            .token(config.token.get_secret_value())
            .base_url(str(config.base_url))
            .base_file_url(str(config.base_file_url))
            .local_mode(config.local_mode)
            .rate_limiter(self.budget)
            .media_write_timeout(MEDIA_WRITE_TIMEOUT_S)
            .concurrent_updates(CONCURRENT_UPDATES)
            .build()
        )
        bot = self.application.bot
        self.admins = ChatAdmins()
        self.board = StatusBoard(bot)
        self.delivery = TelegramDelivery(bot, self.board, local_mode=config.local_mode)
        self.animate = AnimateHandlers(
            service,
            self.admins,
            service.request_rate("telegram:animate", config.animate_rate, config.animate_per_s),
            local_mode=config.local_mode,
            album_window_s=config.album_window_s,
            local_files_dir=config.local_files_dir,
        )
        self.commands = Commands(service, self.admins)
        self.buttons = Buttons(service, self.admins, settings.limits.remix_wait_minutes)
        self._register()
        service.register_target(self.name, self.delivery)
        self._unsubscribe = service.subscribe(self.board.on_update)
        self._stopped = asyncio.Event()
        # The bot's id is the token's first part (public: it is in every link to it).
        self.poller = PollerLease(service, config.token.get_secret_value().split(":")[0])
        self.polling_errors = PollingErrors()

    def _register(self) -> None:
        """Every handler, in one place. Order matters within a group: the first match
        handles an update."""
        app = self.application
        # New messages only: an edit arrives as an update too (`edited_message`), and
        # would otherwise start a second job or repeat a command. Edits are not read.
        new = filters.UpdateType.MESSAGE
        # Before everything else: a text that answers a Remix question is that, and
        # nothing more (ApplicationHandlerStop keeps the other handlers off it).
        texts = filters.TEXT & ~filters.COMMAND & new
        # First of all: the update's handlers (groups run in turn, in one task) answer in
        # the user's language.
        app.add_handler(TypeHandler(Update, self.speak_to_sender), group=-2)
        app.add_handler(MessageHandler(texts, self.on_remix_prompt), group=-1)
        app.add_handler(CommandHandler("animate", self.animate.on_command, filters=new))
        for name, handler in self.commands.handlers().items():
            app.add_handler(CommandHandler(name, handler, filters=new))
        images = (filters.PHOTO | filters.Document.IMAGE) & new
        app.add_handler(MessageHandler(images, self.animate.on_image))
        plain_replies = filters.TEXT & filters.REPLY & ~filters.COMMAND & new
        app.add_handler(MessageHandler(plain_replies, self.animate.on_text_reply))
        # Every callback query, junk included: each gets an answer.
        app.add_handler(CallbackQueryHandler(self.buttons.on_press))
        app.add_error_handler(self.on_error)

    async def speak_to_sender(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """What this update's handlers send goes first (a user is waiting on it), in
        the sender's language: the one they chose (/language), else their app's."""
        sending(Priority.FIRST_ANSWER)
        user = update.effective_user
        if user is None:
            return
        who = Requester(
            "telegram", subject_key("telegram", user.id), locale=supported(user.language_code)
        )
        speak(await self.service.language_of(who))

    async def on_remix_prompt(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and await self.buttons.remixes.on_text(message, context.bot):
            raise ApplicationHandlerStop

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every handler's failure: the detail in the log, one short line to the user."""
        log.error("telegram update %s failed", _update_id(update), exc_info=context.error)
        if not isinstance(update, Update):
            return
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(messages.GENERIC_ERROR, show_alert=True)
            elif update.effective_message is not None:
                await reply(update.effective_message, messages.GENERIC_ERROR)
        except TelegramError as exc:
            log.warning("could not tell the user about it: %s", exc)

    # --- the adapter protocol --------------------------------------------------------------

    async def start(self) -> None:
        """Log in (getMe) and register the command lists; updates start in serve().
        Long polling first takes the poller's lease (AnotherPoller when another
        process on this store polls)."""
        if self.settings.telegram.webhook_url is None:
            await self.poller.take()
        await self.application.initialize()
        bot = self.application.bot
        menus = [
            (PRIVATE_COMMANDS, BotCommandScopeAllPrivateChats()),
            (GROUP_COMMANDS, BotCommandScopeAllGroupChats()),
        ]
        # Telegram shows a user the menu of their app's language, else the default.
        await asyncio.gather(
            *(
                bot.set_my_commands(commands_in(locale, commands), scope=scope, language_code=code)
                for code, locale in MENU_LANGUAGES.items()
                for commands, scope in menus
            )
        )
        self.share = BudgetShare(service=self.service, budget=self.budget, bot_id=str(bot.id))
        await self.share.round()  # before the first send: this process's share
        self.share.start()
        await self.application.start()
        log.info("telegram: logged in as @%s", bot.username)

    async def serve(self) -> None:
        """Receive updates until stop(): long polling, or a webhook when configured."""
        config = self.settings.telegram
        updater = self.application.updater
        assert updater is not None
        if config.webhook_url is not None:
            assert config.webhook_secret is not None  # the config insists
            await updater.start_webhook(
                listen=config.webhook_listen,
                port=config.webhook_port,
                url_path=urlparse(str(config.webhook_url)).path.lstrip("/"),
                webhook_url=str(config.webhook_url),
                secret_token=config.webhook_secret.get_secret_value(),
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            self.poller.keep(lost=self._stopped.set)
            await updater.start_polling(
                allowed_updates=Update.ALL_TYPES, error_callback=self.polling_errors
            )
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
        self._unsubscribe()
        if self.share is not None:
            await self.share.stop()
        await self.board.close()
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        await self.animate.files.aclose()
        if self.settings.telegram.webhook_url is None:
            await self.poller.release()


def _update_id(update: object) -> object:
    return update.update_id if isinstance(update, Update) else update

"""The bot: one Bot subclass whose setup_hook loads a cog per feature, by name, and
syncs the command tree; REST and gateway endpoints come from configuration (proxies,
tests). The cogs need only `bot.discord.shared`, never this module."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.core import messages
from bot.core.api import JobAPI
from bot.discord.payloads import KNOWN_CUSTOM_ID, stale_reason
from bot.discord.shared import Parts, answer, speak_to
from bot.discord.translator import CatalogTranslator

log = logging.getLogger(__name__)

# Each a module with `async def setup(bot)`, loaded in this order (the buttons first:
# a press that arrives while the rest load is already understood).
EXTENSIONS = (
    "bot.discord.buttons",
    "bot.discord.animate",
    "bot.discord.quota",
    "bot.discord.admin",
    "bot.discord.from_messages",
    "bot.discord.remix",
)


def configure_endpoints(settings: Settings) -> None:
    """discord.py reads these class attributes at call time; a REST proxy such as
    nirn-proxy, or the tests' loopback fake, takes Discord's place."""
    discord.http.Route.BASE = str(settings.discord.api_base_url).rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(str(settings.discord.gateway_url))


def _guarded(event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
    def parse_or_drop(data: Any) -> None:
        try:
            parse(data)
        except Exception:
            log.exception("dropped a gateway %s event that could not be parsed", event)

    return parse_or_drop


# Exactly what the bot uses: see channels, answer, attach the videos, and read history
# (replies, and finding a post that may have gone out before a restart). 101376.
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, attach_files=True, read_message_history=True
)


class FramepackBot(commands.AutoShardedBot):
    """The bot on the shards this process connects (`[discord] shard_ids` of
    `shard_count`; one shard by default, as a small bot needs)."""

    def __init__(self, service: JobAPI, settings: Settings) -> None:
        intents = discord.Intents.default()
        intents.message_content = settings.discord.message_content_intent
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            # Nothing we post pings anyone unless a message names its one user.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=FramepackTree,
            # Unset: discord.py asks Discord for it at login.
            application_id=settings.discord.application_id or discord.utils.MISSING,
            shard_count=settings.discord.shard_count,
            # discord.py reads None as "every shard"; its stubs say a list.
            shard_ids=settings.discord.shard_ids,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.parts = Parts(
            service,
            settings,
            service.request_rate(
                "discord:animate", settings.discord.animate_rate, settings.discord.animate_per_s
            ),
        )
        # One malformed gateway payload must not take the bot down: discord.py's parsers
        # run inside its receive loop, where an exception ends `connect()`. The
        # websocket reads this same dict, so the guard is in place for every event.
        parsers = self._connection.parsers
        for event, parse in list(parsers.items()):
            parsers[event] = _guarded(event, parse)
        if not intents.message_content:
            log.warning(
                "the message content intent is off: replying to an image with a "
                "prompt works only in DMs and when the bot is mentioned"
            )

    async def setup_hook(self) -> None:
        # The commands' descriptions in the users' languages, sent with every sync.
        await self.tree.set_translator(CatalogTranslator())
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        for guild_id in self.settings.discord.guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        await self.tree.sync()

    async def on_ready(self) -> None:
        """Who the bot is and where, and how to invite it (again at every reconnect)."""
        me = self.user
        if me is None:
            return
        invite = discord.utils.oauth_url(
            self.application_id or me.id,
            permissions=BOT_PERMISSIONS,
            scopes=("bot", "applications.commands"),
        )
        shards = ""
        if self.shard_count and self.shard_count > 1:
            mine = self.shard_ids or range(self.shard_count)
            shards = f" (shards {', '.join(map(str, mine))} of {self.shard_count})"
        log.info(
            "discord: logged in as %s (id %s) in %d servers%s; invite: %s",
            me.name,
            me.id,
            len(self.guilds),
            shards,
            invite,
        )

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A button or form whose custom_id is none of this bot's (forged, or made by
        a version with other buttons): nothing else would answer it."""
        if interaction.type in (
            discord.InteractionType.component,
            discord.InteractionType.modal_submit,
        ):
            data = cast(Mapping[str, Any], interaction.data or {})
            custom_id = str(data.get("custom_id", ""))
            if not KNOWN_CUSTOM_ID.fullmatch(custom_id):
                log.info("interaction %s: unknown custom_id %r", interaction.id, custom_id[:100])
                await speak_to(interaction)
                await answer(interaction, messages.BUTTON_UNKNOWN)

    async def launch_shard(
        self, gateway: yarl.URL, shard_id: int, *, initial: bool = False
    ) -> None:
        """discord.py's, with every failure of a connection only dropping that connection:
        a frame that is not JSON, or JSON of another shape. discord.py ends the whole
        client on any error but the network ones it knows; the shard reconnects instead,
        with backoff, as after a network error. Login and intent problems still end the
        client (they are not errors of a running connection)."""
        await super().launch_shard(gateway, shard_id, initial=initial)
        info = self.get_shard(shard_id)
        if info is None:
            return
        # ShardInfo keeps its Shard as _parent; the Shard outlives its connections (it
        # reconnects itself), and reads these two each time its worker catches an error.
        shard = info._parent
        known = shard._handled_exceptions
        shard._handled_exceptions = (*known, Exception)
        disconnected = shard._handle_disconnect

        async def close_then_reconnect(error: Exception) -> None:
            if not isinstance(error, known):
                log.warning(
                    "discord: shard %s: the connection failed (%r); reconnecting", shard_id, error
                )
                # discord.py closes a connection (and its heartbeat thread) itself only
                # on the network errors it knows.
                with contextlib.suppress(Exception):
                    await shard.ws.close(code=4000)
            await disconnected(error)

        shard._handle_disconnect = close_then_reconnect  # type: ignore[method-assign,assignment]


class FramepackTree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Before discord.py parses a command's options: a payload that does not fit
        the registered command (an older client's, or a forged one) is answered. The
        command's task speaks the user's language from here on."""
        await speak_to(interaction)
        if interaction.type is discord.InteractionType.application_command:
            reason = stale_reason(self, cast(Mapping[str, Any], interaction.data or {}))
            if reason is not None:
                log.warning("interaction %s: stale command payload: %s", interaction.id, reason)
                await answer(interaction, messages.OPTIONS_UNREADABLE)
                return False
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """One handler for every command: refusals get their one line; anything else
        is logged in full and the user gets one short, private line."""
        if isinstance(error, app_commands.CommandOnCooldown):
            await answer(interaction, messages.slow_down(math.ceil(error.retry_after)))
            return
        if isinstance(error, app_commands.CheckFailure):
            return  # the check answered already
        if isinstance(error, app_commands.TransformerError | app_commands.CommandSignatureMismatch):
            # A value Discord should never have sent, or a command list older than
            # this bot (it syncs at start; clients catch up within minutes).
            log.warning("command %s: unusable options: %s", interaction.data, error)
            await answer(interaction, messages.OPTIONS_UNREADABLE)
            return
        log.error(
            "command %s failed", interaction.command and interaction.command.name, exc_info=error
        )
        await answer(interaction, messages.GENERIC_ERROR)

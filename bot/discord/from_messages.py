"""Animating images that are already in the channel: the "Animate" message context menu
(a modal asks for the prompt) and replying to an image with a prompt."""

from __future__ import annotations

import logging
import math
import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import messages
from bot.core.api import Accepted, JobUpdate, subject_key
from bot.discord.buttons import job_view, show_outcome
from bot.discord.intake import read_images, size_refusal, submit
from bot.discord.replies import (
    only_mentioning,
    reply_ref_of,
    requester_from_message,
    requester_of,
)
from bot.discord.shared import answer, parts_of, report_failure, within_rate_limit
from bot.i18n import N_, _, speak

log = logging.getLogger(__name__)

MESSAGE_LINK = re.compile(
    r"https?://(?:\w+\.)?discord(?:app)?\.com/channels/"
    r"(?P<guild>\d+|@me)/(?P<channel>\d+)/(?P<message>\d+)"
)


# Channels whose messages the bot can fetch and edit.
TEXT_CHANNELS = (discord.TextChannel, discord.Thread, discord.VoiceChannel, discord.DMChannel)


def image_attachment(message: discord.Message) -> discord.Attachment | None:
    for attachment in message.attachments:
        if (attachment.content_type or "").startswith("image/"):
            return attachment
    return None


class AnimateModal(discord.ui.Modal):
    """Made per menu press, in the language in force (the title and labels; Discord
    allows 45 characters for each)."""

    def __init__(self, cog: MessageCog, source: discord.Message) -> None:
        super().__init__(title=_("Animate this image"), custom_id=f"fp:animate-modal:{source.id}")
        self.prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            style=discord.TextStyle.long, max_length=500, custom_id="prompt"
        )
        self.duration: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            required=False, max_length=5, custom_id="duration"
        )
        self.last_frame: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            required=False, max_length=200, custom_id="last_frame"
        )
        self.add_item(discord.ui.Label(text=_("What should happen?"), component=self.prompt))
        self.add_item(discord.ui.Label(text=_("Seconds (optional)"), component=self.duration))
        self.add_item(
            discord.ui.Label(
                text=_("Link to a last-frame message (optional)"), component=self.last_frame
            )
        )
        self.cog = cog
        self.source = source

    async def on_submit(self, interaction: discord.Interaction) -> None:
        callback = await interaction.response.defer(thinking=True, ephemeral=True)
        options: dict = {}
        if self.duration.value.strip():
            try:
                options["duration"] = float(self.duration.value.replace(",", "."))
            except ValueError:
                await interaction.edit_original_response(
                    content=messages.bad_option("duration", messages.MUST_BE_SECONDS)
                )
                return
        last = None
        if self.last_frame.value.strip():
            try:
                last = await self.cog.image_from_link(interaction, self.last_frame.value.strip())
            except LinkRefused as exc:
                await answer(interaction, exc.message)
                return
        source = image_attachment(self.source)
        if source is None:
            await answer(interaction, messages.SOURCE_GONE)
            return
        refusal = size_refusal(self.cog.service, source)
        if refusal is not None:
            await answer(interaction, refusal)
            return
        images = await read_images(source, None)
        if images is None:  # deleted since the menu opened
            await answer(interaction, messages.SOURCE_GONE)
            return
        outcome = await submit(
            self.cog.service,
            requester_of(interaction),
            self.prompt.value,
            (images[0], last),
            options=options,
            reply_ref=reply_ref_of(interaction, callback),
            source=f"discord:interaction:{interaction.id}",
        )
        await show_outcome(interaction, outcome)

    # discord.py's Modal.on_error takes no item (its base class's does).
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_failure(interaction, error)


class LinkRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MessageCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        parts = parts_of(bot)
        self.service = parts.service
        self.rate_limit = parts.rate_limit
        # Context menus cannot be declared in a cog with the decorator.
        self.menu = app_commands.ContextMenu(name=N_("Animate"), callback=self.animate_message)
        self.menu.add_check(within_rate_limit)
        bot.tree.add_command(self.menu)
        self._keep_offered: set[str] = set()  # jobs whose status shows Stop & keep
        self._unsubscribe = self.service.subscribe(self.on_update)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        self._unsubscribe()

    async def animate_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        if image_attachment(message) is None:
            await interaction.response.send_message(messages.NO_IMAGE_IN_MESSAGE, ephemeral=True)
            return
        await interaction.response.send_modal(AnimateModal(self, message))

    async def image_from_link(self, interaction: discord.Interaction, link: str) -> bytes:
        """The image of a linked message, fetched with the bot's access but only for a
        message in this server that the requester can see and read themselves."""
        match = MESSAGE_LINK.search(link)
        if match is None:
            raise LinkRefused(messages.BAD_MESSAGE_LINK)
        guild = interaction.guild
        member = interaction.user
        if (
            guild is None
            or match["guild"] != str(guild.id)
            or not isinstance(member, discord.Member)
        ):
            raise LinkRefused(messages.LAST_FRAME_NOT_VISIBLE)
        channel = guild.get_channel_or_thread(int(match["channel"]))
        if not isinstance(channel, TEXT_CHANNELS):
            raise LinkRefused(messages.LAST_FRAME_NOT_VISIBLE)
        allowed = channel.permissions_for(member)
        if not (allowed.view_channel and allowed.read_message_history):
            raise LinkRefused(messages.LAST_FRAME_NOT_VISIBLE)
        try:
            message = await channel.fetch_message(int(match["message"]))
        except discord.HTTPException:
            raise LinkRefused(messages.BAD_MESSAGE_LINK) from None
        attachment = image_attachment(message)
        if attachment is None:
            raise LinkRefused(messages.BAD_MESSAGE_LINK)
        refusal = size_refusal(self.service, attachment)
        if refusal is not None:
            raise LinkRefused(refusal)
        images = await read_images(attachment, None)
        if images is None:
            raise LinkRefused(messages.ATTACHMENT_UNREADABLE)
        return images[0]

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A reply to a message with an image, mentioning the bot (or in a channel where
        an admin allowed replies without a mention): the reply's text is the prompt, an
        image attached to the reply makes it a first-last-frame job."""
        if message.author.bot or message.reference is None:
            return
        source = message.reference.resolved
        me = self.bot.user
        first_attachment = image_attachment(source) if isinstance(source, discord.Message) else None
        if first_attachment is None or me is None:
            return
        if me not in message.mentions and not await self._replies_allowed(message):
            return
        prompt = re.sub(rf"<@!?{me.id}>", "", message.content).strip()
        # A gateway resume replays events: the message is the request's identity.
        request_source = f"discord:message:{message.id}"
        if await self.service.already_taken(request_source):
            log.info("%s: handled before; ignored", request_source)
            return
        who = requester_from_message(message)
        speak(await self.service.language_of(who))  # this task's replies, in their language
        retry_after = await self.rate_limit.hit(message.author.id)
        if retry_after:
            await message.reply(
                messages.slow_down(math.ceil(retry_after)), allowed_mentions=only_mentioning()
            )
            return
        last_attachment = image_attachment(message)
        refusal = size_refusal(self.service, first_attachment, last_attachment)
        if refusal is not None:
            await message.reply(refusal, allowed_mentions=only_mentioning())
            return
        status = await message.reply(
            messages.status_line("queued"), allowed_mentions=only_mentioning()
        )
        images = await read_images(first_attachment, last_attachment)
        if images is None:
            await status.edit(content=messages.ATTACHMENT_UNREADABLE)
            return
        outcome = await submit(
            self.service,
            who,
            prompt,
            images,
            options={},
            reply_ref={"message_id": str(message.id), "status_message_id": str(status.id)},
            source=request_source,
        )
        await status.edit(
            content=outcome.message,
            view=job_view(outcome.job_id, "cancel") if isinstance(outcome, Accepted) else None,
            allowed_mentions=only_mentioning(),
        )

    async def _replies_allowed(self, message: discord.Message) -> bool:
        return await self.service.replies_without_mention(
            channel_key=subject_key("discord", message.channel.id),
            guild_key=subject_key("discord", message.guild.id) if message.guild else None,
        )

    async def on_update(self, update: JobUpdate) -> None:
        """Status of reply jobs: edit the bot's status reply (no interaction token here)
        at the end, and once when Stop & keep has something to keep."""
        job = update.job
        status_id = job.reply_ref.get("status_message_id")
        if job.platform != "discord" or not status_id:
            return
        final = job.state.value in ("delivered", "failed", "cancelled", "blocked")
        offer_keep = bool(update.keep_s) and job.id not in self._keep_offered
        if not (final or offer_keep):
            return
        channel = self.bot.get_channel(int(job.channel_id or 0))
        if not isinstance(channel, TEXT_CHANNELS):
            return
        if final:
            self._keep_offered.discard(job.id)
        else:
            self._keep_offered.add(job.id)
        try:
            await channel.get_partial_message(int(status_id)).edit(
                content=update.message,
                view=(
                    None
                    if final
                    else job_view(job.id, "cancel", "keep", locale=job.request.get("locale"))
                ),
                allowed_mentions=only_mentioning(),
            )
        except discord.HTTPException as exc:
            log.info("job %s: status edit failed: %s", job.id, exc)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(MessageCog(bot))

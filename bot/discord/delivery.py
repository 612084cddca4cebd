"""Posting finished videos on Discord: a followup on the interaction while its token
lives (15 minutes), afterwards a channel message that replies to the request.

Exactly once: when the service says an earlier post may have gone through (a restart
during the upload, a timeout, a 5xx, a dropped connection), the bot's own recent
messages in the channel are searched for this job's video before anything is posted
again. The job id is in the attachment's name and in the buttons' custom ids.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import aiohttp
import discord
from discord.http import handle_message_parameters
from discord.utils import MISSING

from bot.core.api import DeliveryError, JobRecord, PostedRef, VideoPost
from bot.discord.buttons import job_view
from bot.discord.replies import only_mentioning
from bot.discord.upload import OneShotUploader

log = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 15 * 60
TOKEN_MARGIN_S = 30  # an upload can take a while; do not start one on a dying token
DEFAULT_LIMIT = 10 * 2**20
HISTORY_SEARCHED = 100  # the bot's messages since the job began; plenty for one channel


def video_filename(job_id: str) -> str:
    return f"framepack-{job_id}.mp4"


class DiscordDelivery:
    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot
        self.uploader = OneShotUploader(bot.http.token or "")

    def upload_limit(self, job: JobRecord) -> int:
        limit = job.reply_ref.get("attachment_size_limit")
        if isinstance(limit, int) and limit > 0:
            return limit
        guild = self.bot.get_guild(int(job.guild_key.split(":")[1])) if job.guild_key else None
        return guild.filesize_limit if guild is not None else DEFAULT_LIMIT

    async def deliver(self, job: JobRecord, post: VideoPost, *, maybe_posted: bool) -> PostedRef:
        if maybe_posted:
            found = await self._find_posted(job)
            if found is not None:
                log.info("job %s: its video was already posted (%s)", job.id, found.id)
                return {"message_id": str(found.id), "found_after_retry": True}
        try:
            message = await self._post(job, post)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            # The connection broke: the post may or may not have been made.
            raise DeliveryError(f"the upload broke off ({exc!r})", transient=True) from exc
        return {"message_id": str(message["id"])}

    async def _post(self, job: JobRecord, post: VideoPost) -> dict:
        """One request (see bot.discord.upload: discord.py would retry a 5xx, and post
        twice when the 5xx came after the message was made). A loop says so in its
        caption: Discord plays every video once."""
        ref = job.reply_ref
        caption = post.caption
        view = job_view(job.id, *post.follow_ups, locale=post.locale)
        file = discord.File(post.video, filename=video_filename(job.id))
        try:
            if token_alive(ref):
                params = handle_message_parameters(
                    content=caption, file=file, view=view, allowed_mentions=only_mentioning()
                )
                return await self.uploader.to_interaction(
                    int(ref["application_id"]), ref["token"], params
                )
            reference = None
            if ref.get("message_id"):
                reference = discord.MessageReference(
                    message_id=int(ref["message_id"]),
                    channel_id=_channel_id(job),
                    fail_if_not_exists=False,
                )
            user_id = int(job.user_key.split(":")[1])
            params = handle_message_parameters(
                content=f"<@{user_id}> {caption}",
                file=file,
                view=view,
                message_reference=reference.to_message_reference_dict() if reference else MISSING,
                allowed_mentions=only_mentioning(user_id),
            )
            return await self.uploader.to_channel(_channel_id(job), params)
        finally:
            file.close()

    async def _channel(self, job: JobRecord) -> discord.abc.Messageable:
        channel = self.bot.get_channel(_channel_id(job)) or await self.bot.fetch_channel(
            _channel_id(job)
        )
        if not isinstance(channel, discord.abc.Messageable):
            raise DeliveryError(f"channel {job.channel_id} takes no messages")
        return channel

    async def _find_posted(self, job: JobRecord) -> discord.Message | None:
        """The bot's own message carrying this job's video, if an earlier attempt made
        one. Raises a transient DeliveryError when Discord cannot be asked right now."""
        name = video_filename(job.id)
        try:
            channel = await self._channel(job)
            since = job.created_at - timedelta(seconds=5)
            async for message in channel.history(limit=HISTORY_SEARCHED, after=since):
                if self.bot.user is None or message.author.id != self.bot.user.id:
                    continue
                if any(a.filename == name for a in message.attachments):
                    return message
        except discord.Forbidden:
            # Without Read Message History the bot cannot check; posting again risks a
            # duplicate, not posting risks losing a paid video: post, and say why.
            log.warning("job %s: cannot read the channel's history to check", job.id)
            return None
        except discord.HTTPException as exc:
            raise DeliveryError(f"Discord answered {exc.status}", transient=True) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(
                f"looking for an earlier post broke off ({exc!r})", transient=True
            ) from exc
        return None


def _channel_id(job: JobRecord) -> int:
    if job.channel_id is None:
        raise DeliveryError("the job names no channel to post in")
    return int(job.channel_id)


def token_alive(ref: dict, now: float | None = None) -> bool:
    created = ref.get("created_at")
    if not ref.get("token") or created is None:
        return False
    age = (time.time() if now is None else now) - float(created)
    return age < TOKEN_LIFETIME_S - TOKEN_MARGIN_S

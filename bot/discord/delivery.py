"""Posting finished videos on Discord: a followup on the interaction while its token
lives (15 minutes), afterwards a channel message that replies to the request."""

from __future__ import annotations

import time
from pathlib import Path

import discord

from bot.core.api import DeliveryError, JobRecord
from bot.discord.replies import only_mentioning

TOKEN_LIFETIME_S = 15 * 60
TOKEN_MARGIN_S = 30  # an upload can take a while; do not start one on a dying token
DEFAULT_LIMIT = 10 * 2**20


class DiscordDelivery:
    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot

    def upload_limit(self, job: JobRecord) -> int:
        limit = job.reply_ref.get("attachment_size_limit")
        if isinstance(limit, int) and limit > 0:
            return limit
        guild = self.bot.get_guild(int(job.guild_key.split(":")[1])) if job.guild_key else None
        return guild.filesize_limit if guild is not None else DEFAULT_LIMIT

    async def deliver(self, job: JobRecord, video: Path, caption: str) -> None:
        ref = job.reply_ref
        from bot.discord.buttons import job_view

        file = discord.File(video, filename=f"framepack-{job.id}.mp4")
        view = job_view("retry", "extend", job.id)
        try:
            if token_alive(ref):
                webhook = discord.Webhook.partial(
                    int(ref["application_id"]), ref["token"], client=self.bot
                )
                await webhook.send(
                    content=caption, file=file, view=view, allowed_mentions=only_mentioning()
                )
            else:
                channel = self.bot.get_channel(int(job.channel_id)) or await self.bot.fetch_channel(
                    int(job.channel_id)
                )
                reference = None
                if ref.get("message_id"):
                    reference = discord.MessageReference(
                        message_id=int(ref["message_id"]),
                        channel_id=int(job.channel_id),
                        fail_if_not_exists=False,
                    )
                user_id = int(job.user_key.split(":")[1])
                await channel.send(
                    content=f"<@{user_id}> {caption}",
                    file=file,
                    reference=reference,
                    view=view,
                    allowed_mentions=only_mentioning(user_id),
                )
        except discord.HTTPException as exc:
            if exc.status == 413 or exc.code == 40005:
                raise DeliveryError("the upload is too large", too_large=True) from exc
            raise DeliveryError(
                f"Discord answered {exc.status}", transient=exc.status >= 500 or exc.status == 429
            ) from exc
        finally:
            file.close()


def token_alive(ref: dict, now: float | None = None) -> bool:
    created = ref.get("created_at")
    if not ref.get("token") or created is None:
        return False
    age = (time.time() if now is None else now) - float(created)
    return age < TOKEN_LIFETIME_S - TOKEN_MARGIN_S

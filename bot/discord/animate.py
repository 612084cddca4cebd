"""/animate: the slash command, its live status message, and the video delivery."""

from __future__ import annotations

import logging
import time
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import ProviderName
from bot.core import messages
from bot.core.api import MAX_SEED, JobUpdate
from bot.discord.buttons import job_view, show_outcome
from bot.discord.delivery import DiscordDelivery, token_alive
from bot.discord.intake import read_images, size_refusal, submit
from bot.discord.replies import only_mentioning, reply_ref_of, requester_of
from bot.discord.shared import answer, offer_only, parts_of, rate_limited
from bot.i18n import N_

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 3.0  # Discord rate-limits edits; a status that changes faster is noise


class AnimateCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.service = parts_of(bot).service
        self.delivery = DiscordDelivery(bot)
        self.service.register_target("discord", self.delivery)
        offer_only(self.animate, "provider", self.service.provider_names())
        self._last_edit: dict[str, float] = {}
        self._keep_offered: set[str] = set()  # jobs whose status shows Stop & keep
        self._unsubscribe = self.service.subscribe(self.on_update)

    async def cog_unload(self) -> None:
        self._unsubscribe()
        await self.delivery.uploader.close()

    @app_commands.command(name="animate", description=N_("Turn an image into a short video."))
    @rate_limited()
    @app_commands.describe(
        image=N_("The first frame"),
        prompt=N_("What should happen (at most 500 characters)"),
        last_frame=N_("Optional last frame: the video ends on it"),
        provider=N_("Which service makes the video"),
        duration=N_("Seconds of video"),
        seed=N_("Repeat a result with its seed"),
        steps=N_("Inference steps"),
        guidance=N_("Guidance scale"),
        negative_prompt=N_("What to avoid"),
        strength=N_("How strongly the last frame pulls (0..1)"),
        loop=N_("End on the first image: a video that loops"),
        draft=N_("Try it cheaply: 480p, fewer steps; an HD button re-renders it"),
        lora=N_("Local engine: an installed LoRA, name or name:0.7; two with a comma"),
    )
    async def animate(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 500],
        last_frame: discord.Attachment | None = None,
        provider: ProviderName | None = None,
        model: Literal["framepack", "framepack-f1", "wan-flf2v"] | None = None,
        resolution: Literal["480p", "720p"] | None = None,
        aspect_ratio: Literal["16:9", "9:16", "auto"] | None = None,
        duration: app_commands.Range[float, 1, 60] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 4, 50] | None = None,
        guidance: app_commands.Range[float, 0, 32] | None = None,
        negative_prompt: app_commands.Range[str, 0, 500] | None = None,
        strength: app_commands.Range[float, 0, 1] | None = None,
        loop: bool | None = None,
        draft: bool | None = None,
        lora: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        # First, always: Discord drops interactions not answered within 3 seconds.
        callback = await interaction.response.defer(thinking=True, ephemeral=True)
        options = {
            key: value
            for key, value in {
                "provider": provider,
                "model": model,
                "resolution": resolution,
                "aspect_ratio": aspect_ratio,
                "duration": duration,
                "seed": seed,
                "steps": steps,
                "guidance": guidance,
                "negative_prompt": negative_prompt,
                "strength": strength,
                "loop": loop,
                "draft": draft,
                "lora": lora,
            }.items()
            if value is not None
        }
        refusal = size_refusal(self.service, image, last_frame)
        if refusal is not None:
            await answer(interaction, refusal)
            return
        images = await read_images(image, last_frame)
        if images is None:
            await answer(interaction, messages.ATTACHMENT_UNREADABLE)
            return
        outcome = await submit(
            self.service,
            requester_of(interaction),
            prompt,
            images,
            options=options,
            reply_ref=reply_ref_of(interaction, callback),
            source=f"discord:interaction:{interaction.id}",
        )
        await show_outcome(interaction, outcome)

    async def on_update(self, update: JobUpdate) -> None:
        """Edit the requester's status message, at most every EDIT_INTERVAL_S seconds
        (always for the last word)."""
        job = update.job
        if job.platform != "discord" or not token_alive(job.reply_ref):
            return
        message_id = job.reply_ref.get("message_id")
        if not message_id:
            return
        final = job.state.is_final
        now = time.monotonic()
        # Stop & keep's first offer is not held back: the next edit may be long coming.
        offer_keep = bool(update.keep_s) and job.id not in self._keep_offered
        recent = now - self._last_edit.get(job.id, -EDIT_INTERVAL_S) < EDIT_INTERVAL_S
        if not final and not offer_keep and recent:
            return
        self._last_edit[job.id] = now
        if offer_keep:
            self._keep_offered.add(job.id)
        if final:
            self._last_edit.pop(job.id, None)
            self._keep_offered.discard(job.id)
        webhook = discord.Webhook.partial(
            int(job.reply_ref["application_id"]), job.reply_ref["token"], client=self.bot
        )
        try:
            if final:  # the Cancel button goes with the last status
                await webhook.edit_message(
                    int(message_id),
                    content=update.message,
                    view=None,
                    allowed_mentions=only_mentioning(),
                )
            elif update.keep_s:  # the job has a finished part to keep: offer it
                await webhook.edit_message(
                    int(message_id),
                    content=update.message,
                    view=job_view(job.id, "cancel", "keep", locale=job.request.get("locale")),
                    allowed_mentions=only_mentioning(),
                )
            else:
                await webhook.edit_message(
                    int(message_id), content=update.message, allowed_mentions=only_mentioning()
                )
        except discord.HTTPException as exc:
            log.info("job %s: status edit failed: %s", job.id, exc)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(AnimateCog(bot))

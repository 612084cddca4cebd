"""From a chat request to a queued, charged job — or one short refusal.

`submit` is the pipeline, one named step each: the same event not taken twice, the
options, the prompt, its safety check, the provider, the images (decoded, checked,
encoded off the event loop), the generation request as the provider will take it,
then the job row and its quota reservation in one transaction, and the queue.
Nothing leaves the process before that transaction."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from bot.core import messages
from bot.core.api import Accepted, AnimateRequest, JobOptions, JobUpdate, Refused, Requester
from bot.core.context import JobContext
from bot.core.endings import Endings
from bot.core.images import ImageRejected, IntakeLimits, for_remote, load_image
from bot.core.quotas import job_cost_mc
from bot.core.request import StoredRequest
from bot.core.running import Runner
from bot.core.safety import Verdict
from bot.core.text import clean_prompt
from providers import GenerationRequest, ImageInput, Mode, Provider
from providers.contract import FPS, LoraChoice, parse_loras, settle
from providers.errors import InvalidInputError
from storage import Connection, DuplicateSource, NewJob, ReserveOutcome

log = logging.getLogger(__name__)

MAX_PROMPT = 500
DRAFT_STEPS = 10  # a draft's steps where the backend takes steps and the user set none


class Refusal(Exception):
    """A step's refusal: the pipeline stops and the user reads `refused`."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.message)
        self.refused = refused


@dataclass(frozen=True)
class Extension:
    """An Extend's earlier video: the new job's part is joined to it on delivery."""

    job_id: str
    video: Path
    frames: int


@dataclass(frozen=True)
class _Planned:
    """A request that passed every check, as it will be charged and run."""

    who: Requester
    provider: str
    generation: GenerationRequest
    images: list[ImageInput]
    seconds: float
    safety_on: bool
    options: JobOptions
    extension: Extension | None


class Intake:
    def __init__(self, ctx: JobContext, endings: Endings, runner: Runner) -> None:
        self._ctx = ctx
        self._endings = endings
        self._runner = runner

    # --- what adapters ask before they download or answer -------------------------------------

    @property
    def image_byte_limit(self) -> int:
        """The most bytes an image may have: adapters stop reading a download there."""
        return IntakeLimits().max_bytes

    def image_size_refusal(self, size_bytes: int | None) -> str | None:
        """For adapters, before they download anything: the refusal for an image whose
        announced size is over the intake limit, else None."""
        limit = self.image_byte_limit
        if size_bytes is not None and size_bytes > limit:
            return messages.image_too_many_bytes(size_bytes, limit)
        return None

    async def already_taken(self, source: str | None) -> bool:
        """For adapters, before they answer an event at all: whether a job was already
        made from it (a platform handing the same event over again)."""
        return source is not None and await self._ctx.store.jobs.from_source(source) is not None

    # --- the pipeline -------------------------------------------------------------------------

    async def submit(
        self, request: AnimateRequest, extension: Extension | None = None
    ) -> Accepted | Refused:
        """`extension`: the request is an Extend of that video (follow-ups only)."""
        try:
            await self._not_taken(request.source)
            options = _options(request)
            prompt = _prompt(request.prompt)
            safety_on = await self.safety_enabled(request.requester)
            await self._prompt_safe(request.requester, prompt, options, safety_on)
            name, provider = await self._provider(request.requester, options)
            images = await self._images(request, options, safety_on)
            generation, seconds = _generation(name, provider, prompt, options, images, safety_on)
            planned = _Planned(
                request.requester,
                name,
                generation,
                images,
                seconds,
                safety_on,
                options,
                extension,
            )
            return await self._accept(planned, request)
        except Refusal as refusal:
            return refusal.refused

    async def _not_taken(self, source: str | None) -> None:
        if await self.already_taken(source):
            log.info("%s: already taken; not a second job", source)
            raise Refusal(Refused("duplicate", messages.ALREADY_TAKEN))

    async def safety_enabled(self, who: Requester) -> bool:
        setting = await self._ctx.scoped.resolve(
            "safety", channel_key=who.channel_key, guild_key=who.guild_key
        )
        if setting.value or setting.set_by is None:
            return bool(setting.value)
        # An 'off' holds only where the rules that allowed it still hold.
        return not self._ctx.authority.safety_off_honoured(setting.set_by, who.channel_nsfw)

    async def _prompt_safe(
        self, who: Requester, prompt: str, options: JobOptions, safety_on: bool
    ) -> None:
        verdict = self._ctx.safety.check_prompt(prompt, options.negative_prompt, enabled=safety_on)
        if verdict is not None:
            raise await self._refuse_for_safety(who, verdict)

    async def _refuse_for_safety(self, who: Requester, verdict: Verdict) -> Refusal:
        await self._endings.audit_block(
            who.user_key, who.guild_key or who.user_key, verdict, stage="intake"
        )
        return Refusal(Refused("safety", messages.blocked(verdict.check)))

    async def _provider(self, who: Requester, options: JobOptions) -> tuple[str, Provider]:
        name = options.provider or await self._ctx.scoped.get(
            "provider", channel_key=who.channel_key, guild_key=who.guild_key
        )
        provider = self._ctx.providers.get(name)
        if provider is None:
            raise Refusal(Refused("provider", messages.provider_unavailable(name)))
        spec = provider.capabilities.models.get(options.model)
        if options.loop and spec is not None and Mode.FIRST_LAST_FRAME not in spec.endpoint:
            raise Refusal(Refused("provider", messages.cannot_loop(name, options.model)))
        return name, provider

    async def _images(
        self, request: AnimateRequest, options: JobOptions, safety_on: bool
    ) -> list[ImageInput]:
        if options.loop and request.last_image is not None:
            raise Refusal(Refused("bad_option", messages.LOOP_ONE_IMAGE))
        images = []
        for what, data in (("image", request.image), ("last frame", request.last_image)):
            if data is None:
                continue
            # One trip to a thread per image: under a burst each trip waits a turn of
            # the event loop.
            try:
                image, verdict = await self._ctx.cpu.run(self._take_image, data, what, safety_on)
            except ImageRejected as exc:
                raise Refusal(Refused("image", str(exc))) from None
            if verdict is not None:
                raise await self._refuse_for_safety(request.requester, verdict)
            images.append(image)
        if options.loop:  # it ends where it starts
            images.append(images[0])
        return images

    def _take_image(
        self, data: bytes, what: str, safety_on: bool
    ) -> tuple[ImageInput, Verdict | None]:
        """Blocking: decode and check an image, and encode it for the provider."""
        image = load_image(data)
        verdict = self._ctx.safety.check_images([image], what=what, enabled=safety_on)
        return for_remote(image), verdict

    async def _accept(self, planned: _Planned, request: AnimateRequest) -> Accepted | Refused:
        """Write the job and its reservation in one transaction, then queue it."""
        ctx, who = self._ctx, planned.who
        cost = job_cost_mc(round(planned.seconds * FPS), planned.generation.resolution)
        stored = _stored(planned)
        job = NewJob(
            platform=who.platform,
            user_key=who.user_key,
            guild_key=who.guild_key,
            channel_id=who.channel_id,
            provider=planned.provider,
            cost_mc=cost,
            reply_ref=dict(request.reply_ref),
            request=stored.row(),
            source=request.source,
            owner=ctx.owner,
            lease_until=ctx.clock() + timedelta(seconds=ctx.settings.storage.job_lease_s),
        )
        await asyncio.to_thread(self._save_inputs, job.id, planned)
        refused = await self._reserve_and_insert(job, who)
        if refused is not None:
            await asyncio.to_thread(shutil.rmtree, ctx.jobs_dir / job.id, True)
            return refused
        position = self._runner.enqueue(job.id)
        record = await ctx.store.jobs.require(job.id)
        status = messages.status_line("queued", position=position)
        ctx.updates.emit(JobUpdate(record, status, position=position))
        log.info(
            "job %s accepted: %s, %s, %d frames, cost %d mc",
            job.id,
            who.user_key,
            planned.provider,
            stored.frames,
            cost,
        )
        total = stored.total_frames / FPS if stored.extends else None
        message = messages.accepted(
            cost, position, planned.seconds, draft=stored.draft, total_seconds=total
        )
        return Accepted(job.id, cost, position, planned.provider, message)

    async def _reserve_and_insert(self, job: NewJob, who: Requester) -> Refused | None:
        ctx = self._ctx
        # The caps are read before the transaction: the writer is the one thing every
        # job waits its turn for, and a read inside would hold it for a round trip.
        caps = await ctx.quotas.caps_for(who.user_key, who.guild_key, who.role_keys)

        async def reserve_and_insert(tx: Connection) -> ReserveOutcome:
            outcome = await ctx.quotas.reserve(
                job.id,
                user_key=who.user_key,
                guild_key=who.guild_key,
                cost_mc=job.cost_mc,
                caps=caps,
                tx=tx,
            )
            if outcome.granted:
                await ctx.store.jobs.insert(job, now=ctx.clock(), tx=tx)
            return outcome

        try:
            outcome = await ctx.store.db.run(reserve_and_insert)
        except DuplicateSource:  # the same event, handled twice at once: rolled back
            return Refused("duplicate", messages.ALREADY_TAKEN)
        if outcome.granted:
            return None
        assert outcome.refusal is not None  # a refused reservation says which cap
        return Refused("quota", messages.quota_refused(outcome.refusal, job.cost_mc, ctx.clock()))

    def _save_inputs(self, job_id: str, planned: _Planned) -> None:
        """Blocking: the job's images, and an Extend's earlier video, in its folder
        (so a later Extend of this one needs nothing of the earlier job's)."""
        folder = self._ctx.jobs_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, image in zip(("first.jpg", "last.jpg"), planned.images, strict=False):
            (folder / name).write_bytes(image.data)
        if planned.extension is not None:
            _link_or_copy(planned.extension.video, folder / "earlier.mp4")


# --- the steps that need nothing but their input ----------------------------------------------


def _link_or_copy(source: Path, dest: Path) -> None:
    # A hard link costs no space; across file systems it cannot be made.
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def _stored(planned: _Planned) -> StoredRequest:
    extension = planned.extension
    return StoredRequest.of(
        planned.generation,
        planned.seconds,
        planned.who,
        safety=planned.safety_on,
        loop=planned.options.loop,
        asked_steps=planned.options.steps,
        extends=extension.job_id if extension else None,
        earlier_frames=extension.frames if extension else 0,
    )


def _options(request: AnimateRequest) -> JobOptions:
    raw = dict(request.options)
    if raw.get("draft") is True and raw.get("resolution") == "720p":
        raise Refusal(Refused("bad_option", messages.DRAFT_IS_480P))
    if isinstance(raw.get("negative_prompt"), str):
        raw["negative_prompt"] = clean_prompt(raw["negative_prompt"])
    try:
        return JobOptions.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field_name = ".".join(str(p) for p in error["loc"]) or "options"
        raise Refusal(
            Refused("bad_option", messages.bad_option(field_name, messages.option_reason(error)))
        ) from None


def _prompt(text: str) -> str:
    # What is checked and sent is what a reader sees: no zero-width or bidi tricks.
    prompt = clean_prompt(text)
    if not prompt:
        raise Refusal(Refused("prompt", messages.PROMPT_EMPTY))
    if len(prompt) > MAX_PROMPT:
        raise Refusal(Refused("prompt", messages.prompt_too_long(len(prompt), MAX_PROMPT)))
    return prompt


def _generation(
    name: str,
    provider: Provider,
    prompt: str,
    options: JobOptions,
    images: list[ImageInput],
    safety_on: bool,
) -> tuple[GenerationRequest, float]:
    """The request as the provider will take it, and the seconds it makes."""
    try:
        generation = GenerationRequest(
            model=options.model,
            prompt=prompt,
            negative_prompt=options.negative_prompt,
            image=images[0],
            last_image=images[1] if len(images) > 1 else None,
            seed=options.seed,
            aspect_ratio=options.aspect_ratio,
            resolution=options.resolution,
            num_frames=options.num_frames,
            duration=options.duration,
            num_inference_steps=options.steps,
            guidance_scale=options.guidance,
            cfg_scale=options.cfg_scale,
            strength=options.strength,
            enable_safety_checker=safety_on,
            loras=_loras(options.lora),
        )
        spec = provider.check(generation)
        if options.draft:
            generation = _as_draft(generation, options, spec.steps)
            spec = provider.check(generation)
        # The length pinned to what this model makes (its nearest to the default when
        # none was asked): the cost, the status and any fallback mean it.
        generation = settle(generation, spec)
    except ValidationError as exc:
        message = messages.bad_option("options", messages.option_reason(exc.errors()[0]))
        raise Refusal(Refused("bad_option", message)) from None
    except ValueError as exc:
        raise Refusal(Refused("bad_option", messages.bad_option("options", str(exc)))) from None
    except InvalidInputError as exc:
        raise Refusal(Refused("provider", messages.provider_cannot(name, exc.message))) from None
    return generation, spec.made_seconds(generation)


def _loras(text: str | None) -> tuple[LoraChoice, ...]:
    try:
        return parse_loras(text or "")
    except ValueError as exc:
        raise Refusal(Refused("bad_option", messages.bad_option("lora", str(exc)))) from None


def _as_draft(
    generation: GenerationRequest, options: JobOptions, steps: tuple[int, int] | None
) -> GenerationRequest:
    """480p, and fewer steps where the backend takes steps and the user set none."""
    update: dict[str, object] = {"resolution": "480p", "draft": True}
    if steps is not None and options.steps is None:
        update["num_inference_steps"] = min(steps[1], max(steps[0], DRAFT_STEPS))
    return generation.model_copy(update=update)

"""FramePack image-to-video through diffusers' HunyuanVideoFramepackPipeline: buckets,
seeds, sections, progress per step, cancel within a step, trimming, MP4.

Blocking and single-file on purpose: callers run `generate` in a thread (the bot) or
in a worker process (a GPU machine). One job at a time per engine: it owns a GPU.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from local_engine.buckets import fit_to_bucket, nearest_bucket
from local_engine.continuation import Continuation, last_frames
from local_engine.encode import FPS, write_mp4
from local_engine.keep import FinishedSections, Stopped, frames_after
from local_engine.loras import Loras
from local_engine.options import step_cache_for_call
from local_engine.request import Cancelled, EngineRefused, EngineRequest, Progress
from local_engine.sections import SectionPrompts

__all__ = ["Cancelled", "EngineRefused", "EngineRequest", "FramePackEngine", "Progress"]

LATENT_WINDOW = 9  # FramePack's: each section makes (9 - 1) * 4 + 1 new frames
INVERTED = "inverted_anti_drifting"  # FramePack; can end on a last frame
VANILLA = "vanilla"  # FramePack-F1: forward only


def sections_for(num_frames: int, window: int = LATENT_WINDOW) -> int:
    return max(1, math.ceil(num_frames / ((window - 1) * 4 + 1)))


class FramePackEngine:
    def __init__(
        self,
        pipe: Any,
        *,
        f1_transformer: Any = None,
        latent_window_size: int = LATENT_WINDOW,
        prompt_template: dict[str, Any] | None = None,
        cache_context: bool = False,
        loras: Mapping[str, Path] | None = None,
        draft_cache: str = "none",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pipe = pipe
        self.loras = Loras(loras or {})  # the installed LoRA files, by name
        self.draft_cache = draft_cache  # a draft's step cache, when none runs always
        self.f1_pipe: Any = None
        if f1_transformer is not None:
            # The same parts around the F1 transformer: nothing is copied.
            self.f1_pipe = type(pipe)(**{**pipe.components, "transformer": f1_transformer})
        for each in (self.pipe, self.f1_pipe):
            if each is not None:  # progress is reported to the caller, not drawn on stderr
                each.set_progress_bar_config(disable=True)
        self.window = latent_window_size
        self.prompt_template = prompt_template
        # A step cache that needs a context (FirstBlockCache, MagCache): one model pass
        # per step here (true_cfg_scale 1), so one context for the whole call.
        self.cache_context = cache_context
        self._clock = clock
        self._busy = threading.Lock()

    def check(self, request: EngineRequest) -> None:
        """Raise EngineRefused for a request this engine cannot run."""
        if request.f1 and request.last_image is not None:
            raise EngineRefused(
                "FramePack-F1 only samples forwards, so it cannot end on a last frame: "
                "use the framepack model for a first and a last frame"
            )
        if request.f1 and self.f1_pipe is None:
            raise EngineRefused("FramePack-F1 is not installed here ([engine] f1_transformer_dir)")
        self.loras.check(request.loras)

    def generate(
        self,
        request: EngineRequest,
        out: Path,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        keep: threading.Event | None = None,
    ) -> Path:
        """Make the video and write it to `out` (an MP4). Raises EngineRefused, or
        Cancelled when `cancel` was set (within one step). `keep` set: stop within one
        step and write the sections finished (F1's forward sampler only: see
        local_engine.keep); none finished yet is Cancelled."""
        frames = self.frames(request, on_progress=on_progress, cancel=cancel, keep=keep)
        return write_mp4(frames, out, fps=FPS)

    def frames(
        self,
        request: EngineRequest,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        keep: threading.Event | None = None,
    ) -> np.ndarray:
        """The video as uint8 frames (F x H x W x 3), trimmed to the requested length
        (or what was finished, when `keep` was set)."""
        self.check(request)
        import torch  # here: importing this module must not need torch

        bucket = nearest_bucket(request.image.width, request.image.height, request.base)
        first = fit_to_bucket(request.image, bucket)
        last = fit_to_bucket(request.last_image, bucket) if request.last_image else None
        sections = sections_for(request.num_frames, self.window)
        forward = self.samples_forward(request)
        pipe = self.f1_pipe if forward else self.pipe
        # Only a forward sampler's finished sections are the clip's beginning.
        kept = FinishedSections(pipe) if forward and keep is not None else None
        step_end = _StepEnd(
            request, sections, self.window, self._clock, on_progress, cancel, keep if kept else None
        )
        options: dict[str, Any] = {"last_image": last} if last is not None else {}
        if self.prompt_template is not None:
            options["prompt_template"] = self.prompt_template
        context = pipe.transformer.cache_context("cond") if self.cache_context else nullcontext()
        with (
            self._busy,
            context,
            self._per_job(pipe, request, bucket, sections, forward),
            kept or nullcontext(),
        ):
            self.loras.use(pipe, request.loras)
            try:
                output = pipe(
                    image=first,
                    prompt=request.prompt,
                    negative_prompt=request.negative_prompt or None,
                    height=bucket[0],
                    width=bucket[1],
                    num_frames=request.num_frames,
                    latent_window_size=self.window,
                    num_inference_steps=request.steps,
                    guidance_scale=request.guidance,
                    generator=torch.Generator(device="cpu").manual_seed(request.seed),
                    sampling_type=VANILLA if forward else INVERTED,
                    callback_on_step_end=step_end,
                    output_type="np",
                    **options,
                )
            except Stopped:
                assert kept is not None
                video = _finished(kept, request.num_frames)
            else:
                video = np.asarray(output.frames[0])[: request.num_frames]
        return (np.clip(video, 0.0, 1.0) * 255).round().astype(np.uint8)

    def samples_forward(self, request: EngineRequest) -> bool:
        """F1's forward sampler: asked for, or an Extend's continuation where F1 is
        installed (only a forward sampler has the past as its history)."""
        continues = request.history is not None and request.last_image is None
        return request.f1 or (continues and self.f1_pipe is not None)

    @contextmanager
    def _per_job(
        self,
        pipe: Any,
        request: EngineRequest,
        bucket: tuple[int, int],
        sections: int,
        forward: bool,
    ) -> Iterator[None]:
        """What one job changes for its call only: a draft's step cache, a prompt per
        section, an earlier video's history."""
        with ExitStack() as stack:
            draft = self.draft_cache if request.draft else "none"
            stack.enter_context(step_cache_for_call(pipe, draft, request.steps))
            if len(request.timed_prompts) > 1:
                stack.enter_context(
                    SectionPrompts(
                        pipe,
                        request.timed_prompts,
                        sections=sections,
                        steps=request.steps,
                        window=self.window,
                        forward=forward,
                        prompt_template=self.prompt_template,
                    )
                )
            if request.history is not None and forward:
                stack.enter_context(
                    Continuation(
                        pipe,
                        last_frames(request.history),
                        bucket=bucket,
                        steps=request.steps,
                        window=self.window,
                    )
                )
            yield


def _finished(kept: FinishedSections, num_frames: int) -> np.ndarray:
    """A Stop & keep's video; Cancelled when no section was finished (nothing to keep)."""
    finished = kept.frames(num_frames)
    if finished is None:
        raise Cancelled()
    return finished


class _StepEnd:
    """The pipeline's step callback: progress (and what a keep would give), a cancel
    or a Stop & keep within one step. `keep` only where the sections can be kept."""

    def __init__(
        self,
        request: EngineRequest,
        sections: int,
        window: int,
        clock: Callable[[], float],
        on_progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
        keep: threading.Event | None,
    ) -> None:
        self.request, self.sections, self.window = request, sections, window
        self.total = sections * request.steps
        self.clock, self.started = clock, clock()
        self.on_progress, self.cancel, self.keep = on_progress, cancel, keep
        self.done = 0

    def __call__(self, pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.done += 1
        done, request = self.done, self.request
        section = (done - 1) // request.steps  # also the sections decoded so far
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()
        # Asked before a section is finished (a job run again on another worker sees
        # the ask at once): stopped once there is something to keep.
        if self.keep is not None and self.keep.is_set() and section:
            raise Stopped()
        if self.on_progress is not None:
            eta = (self.clock() - self.started) / done * (self.total - done)
            keepable = min(request.num_frames, frames_after(section, self.window))
            self.on_progress(
                Progress(
                    done, self.total, section, self.sections, eta, keepable if self.keep else 0
                )
            )
        return kwargs

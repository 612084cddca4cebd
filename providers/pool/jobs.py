"""From the provider contract's request to an engine job, and from an engine job to
what the engine takes. Blocking (images are decoded): run in a thread."""

from __future__ import annotations

import io
from collections.abc import Mapping

from PIL import Image

from local_engine.request import EngineRequest
from providers.contract import GenerationRequest, ModelFamily
from providers.pool.contract import EngineJob
from providers.prompts import timed_prompts

DEFAULT_STEPS = 25  # FramePack's demo
DEFAULT_GUIDANCE = 10.0  # distilled guidance, FramePack's default


def engine_job(
    request: GenerationRequest,
    *,
    job_id: str,
    user: str,
    priority: bool,
    seed: int,
    buckets: Mapping[str, int],
    loras: Mapping[str, float] | None = None,
) -> EngineJob:
    """`loras`: the installed LoRAs' default weights, for choices that name none."""
    defaults = loras or {}
    return EngineJob(
        id=job_id,
        user=user,
        priority=priority,
        image=request.image.data,
        last_image=request.last_image.data if request.last_image is not None else None,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        num_frames=request.frames,
        base=buckets[request.resolution],
        seed=seed,
        steps=request.num_inference_steps or DEFAULT_STEPS,
        guidance=request.guidance_scale if request.guidance_scale is not None else DEFAULT_GUIDANCE,
        f1=request.model is ModelFamily.FRAMEPACK_F1,
        loras=tuple(
            (lora.name, lora.weight if lora.weight is not None else defaults.get(lora.name, 1.0))
            for lora in request.loras
        ),
        draft=request.draft,
        history=request.continues.read_bytes() if request.continues is not None else None,
    )


def engine_request(job: EngineJob) -> EngineRequest:
    def decode(data: bytes) -> Image.Image:
        return Image.open(io.BytesIO(data)).convert("RGB")

    # The job carries the prompt as typed; its timed parts, if any, are read here.
    parts = timed_prompts(job.prompt)
    return EngineRequest(
        image=decode(job.image),
        prompt=parts[0].text if parts else job.prompt,
        timed_prompts=tuple((part.start_s, part.text) for part in parts),
        loras=job.loras,
        draft=job.draft,
        history=job.history,
        num_frames=job.num_frames,
        base=job.base,
        last_image=decode(job.last_image) if job.last_image is not None else None,
        seed=job.seed,
        steps=job.steps,
        guidance=job.guidance,
        negative_prompt=job.negative_prompt,
        f1=job.f1,
    )

"""WaveSpeedAI v3: POST /api/v3/{model} (Bearer), then GET
/api/v3/predictions/{id}/result until completed or failed. No cancel. A completed job
whose has_nsfw_contents flags an output is a content-policy decision, not a success."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from providers.answers import Answer, ErrorText, Items, Text, read
from providers.contract import (
    Capabilities,
    Event,
    Failed,
    GenerationRequest,
    Handle,
    Mode,
    ModelFamily,
    ModelSpec,
    Queued,
    Running,
    Succeeded,
    pick_aspect_ratio,
)
from providers.errors import (
    AmbiguousSubmitError,
    ContentPolicyError,
    JobFailedError,
    TransientError,
)
from providers.remote import RemoteProvider, data_uri

I2V, FLF = Mode.IMAGE_TO_VIDEO, Mode.FIRST_LAST_FRAME
# wan-flf2v renders at fixed sizes only.
WAN_SIZES = {
    ("480p", "16:9"): "832*480",
    ("480p", "9:16"): "480*832",
    ("720p", "16:9"): "1280*720",
    ("720p", "9:16"): "720*1280",
}
FINAL_FAILURES = {"failed", "cancelled", "timeout", "deleted"}


class Urls(Answer):
    get: Text = None


class Timings(Answer):
    inference: float | None = None  # milliseconds


class Prediction(Answer):
    id: Text = None
    urls: Urls | None = None
    status: Text = None
    error: ErrorText = None
    has_nsfw_contents: Items = Field(default_factory=list)
    outputs: Items = Field(default_factory=list)
    timings: Timings | None = None


class Envelope(Answer):
    data: Prediction | None = None


class WaveSpeedProvider(RemoteProvider):
    name = "wavespeed"
    capabilities = Capabilities(
        models={
            ModelFamily.FRAMEPACK: ModelSpec(endpoint={I2V: "wavespeed-ai/framepack"}, steps=True),
            ModelFamily.WAN_FLF2V: ModelSpec(
                endpoint={FLF: "wavespeed-ai/wan-flf2v"}, frames=None, seconds=(5, 10), steps=True
            ),
        },
        cancel=False,
        webhooks=True,
    )

    @staticmethod
    def auth_headers(api_key: str) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def submission(self, request: GenerationRequest, spec: ModelSpec, seed: int | None):
        model = spec.endpoint[request.job_mode]
        aspect = pick_aspect_ratio(request, spec.aspect_ratios)
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "image": data_uri(request.image),
            "seed": seed,
            "enable_safety_checker": request.enable_safety_checker,
        }
        if request.model is ModelFamily.WAN_FLF2V:
            body["last_image"] = data_uri(request.end_image)
            body["size"] = WAN_SIZES[(request.resolution, aspect)]
            body["duration"] = round(request.seconds)
        else:
            body.update(
                aspect_ratio=aspect, resolution=request.resolution, num_frames=request.frames
            )
        for option in ("num_inference_steps", "guidance_scale"):
            if getattr(request, option) is not None:
                body[option] = getattr(request, option)
        return model, f"api/v3/{model}", body

    def handle_from(self, data: dict[str, Any], endpoint: str, seed: int | None) -> Handle:
        job = read(Envelope, data).data
        if job is None or not job.id:
            raise AmbiguousSubmitError("the submit answer has no prediction id", provider=self.name)
        urls = {"get": job.urls.get} if job.urls is not None and job.urls.get else {}
        return Handle(
            provider=self.name,
            endpoint=endpoint,
            request_id=job.id,
            seed=seed,
            submitted_at=self.clock(),
            urls=urls,
        )

    async def poll(self, handle: Handle) -> Event:
        answer = await self.status_json("GET", f"api/v3/predictions/{handle.request_id}/result")
        job = read(Envelope, answer).data
        if job is None:
            raise TransientError("the status answer has no data", provider=self.name)
        status = job.status
        if status == "created":
            return Queued()
        if status == "processing":
            return Running()
        if status in FINAL_FAILURES:
            return Failed(
                JobFailedError(f"{status}: {job.error or 'no reason given'}", provider=self.name)
            )
        if status != "completed":
            raise TransientError(f"unknown status {status!r}", provider=self.name)
        if any(flag is True for flag in job.has_nsfw_contents):
            return Failed(
                ContentPolicyError("the provider flagged the video as NSFW", provider=self.name)
            )
        outputs = [url for url in job.outputs if isinstance(url, str) and url]
        if not outputs:
            return Failed(JobFailedError("completed without an output", provider=self.name))
        timings = {}
        if job.timings is not None and job.timings.inference is not None:
            timings["inference_s"] = job.timings.inference / 1000
        return Succeeded(outputs[0], None, timings)

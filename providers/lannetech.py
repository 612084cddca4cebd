"""lannetech: POST /v1/generate-video (Bearer) with fal-shaped input; the same
endpoint answers a POST of {"request_id": ...} with the job's status (pending,
success, complete, failed). No cancel.

Its documentation marks every field required (model `framepack`, prompt,
negative_prompt, image_url, aspect_ratio, resolution, cfg_scale and guidance_scale as
integers, num_frames, enable_safety_checker), so every one is always sent, defaults
included, and nothing else: no seed (the video's seed is not known, and is not
claimed), no strength. It documents no end image and no other model: first-last jobs
exist only where an operator names a model for them (`first_last_model`), which then
gets the first frame as image_url and the last as end_image_url, as fal's API shapes
them. Images go as data URIs: lannetech documents image_url as a URL and offers no
upload endpoint, and the only URLs we hold for a user's image are the chat
platform's, which carry the bot's token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AnyUrl, Field

from providers.answers import Answer, ErrorText, Text, read
from providers.config import RemoteProviderConfig
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
from providers.errors import AmbiguousSubmitError, JobFailedError, TransientError
from providers.remote import RemoteProvider, data_uri

ENDPOINT = "v1/generate-video"


class Video(Answer):
    url: Text = None
    video_url: Text = None


class Status(Answer):
    request_id: Text = None
    status: Text = None
    queue_position: int | None = None
    error: ErrorText = None
    video: Video | None = None
    video_url: Text = None
    output: Video | None = None
    seed: int | None = None


MODEL = "framepack"
# The documented example's values, sent when the user sets none (both are required).
DEFAULT_CFG = 1
DEFAULT_GUIDANCE = 10


def capabilities_for(first_last_model: str | None) -> Capabilities:
    endpoint = {Mode.IMAGE_TO_VIDEO: MODEL}
    if first_last_model:
        endpoint[Mode.FIRST_LAST_FRAME] = first_last_model
    return Capabilities(
        models={
            ModelFamily.FRAMEPACK: ModelSpec(
                endpoint=endpoint, cfg=(0, 32), seed=None, whole_scales=True
            )
        },
        cancel=False,
        webhooks=False,
    )


class LannetechConfig(RemoteProviderConfig):
    # No public default endpoint: the account page gives each customer's base URL.
    base_url: AnyUrl | None = None
    # lannetech documents one model, "framepack", and no end image. An operator whose
    # account has a first-last-frame model may name it here (e.g. "framepack-flf2v");
    # unset, first-last jobs are refused before anything is sent or charged.
    first_last_model: Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,80}$")] | None = None


class LannetechProvider(RemoteProvider):
    name = "lannetech"
    config_class = LannetechConfig
    key_variable = "LANNETECH_API_KEY"
    listed = 4
    capabilities = capabilities_for(None)

    def __init__(self, *, first_last_model: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.capabilities = capabilities_for(first_last_model)

    @classmethod
    def options_from(cls, config: RemoteProviderConfig) -> dict[str, Any]:
        return {"first_last_model": getattr(config, "first_last_model", None)}

    @staticmethod
    def auth_headers(api_key: str) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    async def submission(
        self, request: GenerationRequest, spec: ModelSpec, seed: int | None
    ) -> tuple[str, str, dict[str, Any]]:
        cfg, guidance = request.cfg_scale, request.guidance_scale
        body: dict[str, Any] = {
            "model": spec.endpoint[request.job_mode],
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "image_url": data_uri(request.image),
            "aspect_ratio": pick_aspect_ratio(request, spec.aspect_ratios),
            "resolution": request.resolution,
            # Integers, as documented (the spec refuses fractions before this).
            "cfg_scale": DEFAULT_CFG if cfg is None else int(cfg),
            "guidance_scale": DEFAULT_GUIDANCE if guidance is None else int(guidance),
            "num_frames": spec.length_value(request),
            "enable_safety_checker": request.enable_safety_checker,
        }
        if request.last_image is not None:
            body["end_image_url"] = data_uri(request.last_image)
        return body["model"], ENDPOINT, body

    def handle_from(self, data: dict[str, Any], endpoint: str, seed: int | None) -> Handle:
        request_id = read(Status, data).request_id
        if not request_id:
            raise AmbiguousSubmitError("the submit answer has no request_id", provider=self.name)
        return Handle(
            provider=self.name,
            endpoint=endpoint,
            request_id=request_id,
            seed=seed,
            submitted_at=self.clock(),
        )

    async def poll(self, handle: Handle) -> Event:
        # A status query, though a POST: safe to repeat.
        answer = read(
            Status,
            await self.status_json("POST", ENDPOINT, json_body={"request_id": handle.request_id}),
        )
        status = (answer.status or "").lower()
        if status in ("pending", "queued"):
            return Queued(answer.queue_position)
        if status in ("processing", "running"):
            return Running()
        if status == "failed":
            return Failed(JobFailedError(answer.error or "no reason given", provider=self.name))
        if status not in ("success", "complete", "completed"):
            raise TransientError(f"unknown status {status!r}", provider=self.name)
        url = (
            (answer.video.url if answer.video else None)
            or answer.video_url
            or (answer.output.video_url if answer.output else None)
        )
        if not url:
            return Failed(JobFailedError("completed without a video", provider=self.name))
        return Succeeded(url, answer.seed, {})


PROVIDER = LannetechProvider

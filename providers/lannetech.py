"""lannetech: POST /v1/generate-video (Bearer) with fal-shaped input; the same
endpoint answers a POST of {"request_id": ...} with the job's status (pending,
success, complete, failed). No cancel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.answers import Answer, ErrorText, Text, read
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


class LannetechProvider(RemoteProvider):
    name = "lannetech"
    capabilities = Capabilities(
        models={
            ModelFamily.FRAMEPACK: ModelSpec(
                endpoint={
                    Mode.IMAGE_TO_VIDEO: "framepack",
                    Mode.FIRST_LAST_FRAME: "framepack-flf2v",
                },
                cfg=True,
                strength=True,
            ),
        },
        cancel=False,
        webhooks=False,
    )

    @staticmethod
    def auth_headers(api_key: str) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def submission(self, request: GenerationRequest, spec: ModelSpec, seed: int | None):
        body: dict[str, Any] = {
            "model": spec.endpoint[request.job_mode],
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "image_url": data_uri(request.image),
            "aspect_ratio": pick_aspect_ratio(request, spec.aspect_ratios),
            "resolution": request.resolution,
            "num_frames": request.frames,
            "seed": seed,
            "enable_safety_checker": request.enable_safety_checker,
        }
        if request.last_image is not None:
            body["end_image_url"] = data_uri(request.last_image)
        for option in ("guidance_scale", "cfg_scale", "strength"):
            if getattr(request, option) is not None:
                body[option] = getattr(request, option)
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

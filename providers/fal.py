"""fal.ai queue API: fal-ai/framepack, fal-ai/framepack/flf2v, fal-ai/framepack/f1,
fal-ai/wan-flf2v. Submit to {base}/{app}; the answer carries status, response and
cancel URLs (which drop the app's sub-path); status is 202 while queued or running
and 200 once COMPLETED, possibly with an error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AnyUrl, BeforeValidator, Field

from providers.answers import Answer, ErrorText, Items, Text, is_web_url, only_objects, read
from providers.config import RemoteProviderConfig
from providers.contract import (
    Capabilities,
    Event,
    Failed,
    GenerationRequest,
    Handle,
    Length,
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
    ProviderError,
    ResultExpiredError,
    TransientError,
)
from providers.remote import RemoteProvider, data_uri, progress_from_logs
from providers.transport import Reply, error_detail

I2V, FLF = Mode.IMAGE_TO_VIDEO, Mode.FIRST_LAST_FRAME
CONTENT_POLICY = "content_policy_violation"


class Submitted(Answer):
    request_id: Text = None
    status_url: Text = None
    response_url: Text = None
    cancel_url: Text = None


class LogLine(Answer):
    message: Text = None


class Metrics(Answer):
    inference_time: float | None = None


class Status(Answer):
    status: Text = None
    queue_position: int | None = None
    logs: Annotated[list[LogLine], BeforeValidator(only_objects)] = Field(default_factory=list)
    error: ErrorText = None
    error_type: Text = None
    metrics: Metrics | None = None


class Video(Answer):
    url: Text = None


class Result(Answer):
    video: Video | None = None
    seed: int | None = None


class ErrorBody(Answer):
    error_type: Text = None
    detail: Items = Field(default_factory=list)


# Wan 2.1 counts frames at its own rate; fal documents 81 to 100 frames at 16 fps
# (frames_per_second 5..24, default 16): 5.1 to 6.2 s.
WAN_FPS = 16
FRAMEPACK = ModelSpec(
    endpoint={I2V: "fal-ai/framepack", FLF: "fal-ai/framepack/flf2v"},
    cfg=(0, 32),
    strength=(0, 1),
)


class FalConfig(RemoteProviderConfig):
    base_url: AnyUrl = AnyUrl("https://queue.fal.run")


class FalProvider(RemoteProvider):
    name = "fal"
    config_class = FalConfig
    key_variable = "FAL_KEY"
    listed = 1
    capabilities = Capabilities(
        models={
            ModelFamily.FRAMEPACK: FRAMEPACK,
            ModelFamily.FRAMEPACK_F1: ModelSpec(endpoint={I2V: "fal-ai/framepack/f1"}, cfg=(0, 32)),
            ModelFamily.WAN_FLF2V: ModelSpec(
                endpoint={FLF: "fal-ai/wan-flf2v"},
                length=Length(81, 100, fps=WAN_FPS),
                steps=(1, 40),
                guidance=(1, 10),
            ),
        },
        cancel=True,
        webhooks=True,
    )

    @staticmethod
    def auth_headers(api_key: str) -> Mapping[str, str]:
        return {"Authorization": f"Key {api_key}"}

    async def submission(
        self, request: GenerationRequest, spec: ModelSpec, seed: int | None
    ) -> tuple[str, str, dict[str, Any]]:
        app = spec.endpoint[request.job_mode]
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": pick_aspect_ratio(request, spec.aspect_ratios),
            "resolution": request.resolution,
            "num_frames": spec.length_value(request),
            "seed": seed,
            "enable_safety_checker": request.enable_safety_checker,
        }
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if request.model is ModelFamily.WAN_FLF2V:
            body["frames_per_second"] = WAN_FPS
            body["start_image_url"] = data_uri(request.image)
            body["end_image_url"] = data_uri(request.end_image)
            if request.guidance_scale is not None:
                body["guide_scale"] = request.guidance_scale
            if request.num_inference_steps is not None:
                body["num_inference_steps"] = request.num_inference_steps
        else:
            body["image_url"] = data_uri(request.image)
            if request.last_image is not None:
                body["end_image_url"] = data_uri(request.last_image)
            for option in ("guidance_scale", "cfg_scale", "strength"):
                if getattr(request, option) is not None:
                    body[option] = getattr(request, option)
        return app, app, body

    def handle_from(self, data: dict[str, Any], endpoint: str, seed: int | None) -> Handle:
        answer = read(Submitted, data)
        urls = {
            "status": answer.status_url,
            "response": answer.response_url,
            "cancel": answer.cancel_url,
        }
        usable = {key: url for key, url in urls.items() if url is not None and is_web_url(url)}
        missing = [f"{key}_url" for key in urls if key not in usable]
        if not answer.request_id or missing:
            what = ", ".join((["request_id"] if not answer.request_id else []) + missing)
            raise AmbiguousSubmitError(
                f"the submit answer lacks a usable {what}", provider=self.name
            )
        request_id = answer.request_id
        return Handle(
            provider=self.name,
            endpoint=endpoint,
            request_id=request_id,
            seed=seed,
            submitted_at=self.clock(),
            urls=usable,
        )

    async def poll(self, handle: Handle) -> Event:
        answer = read(
            Status, await self.status_json("GET", handle.urls["status"], params={"logs": "1"})
        )
        logs = tuple(line.message or "" for line in answer.logs)
        if answer.status == "IN_QUEUE":
            return Queued(answer.queue_position)
        if answer.status == "IN_PROGRESS":
            return Running(progress_from_logs(logs), logs)
        if answer.status != "COMPLETED":
            raise TransientError(f"unknown status {answer.status!r}", provider=self.name)
        if answer.error:
            policy = answer.error_type == CONTENT_POLICY
            kind = ContentPolicyError if policy else JobFailedError
            return Failed(kind(answer.error, provider=self.name))
        timings = {}
        if answer.metrics is not None and answer.metrics.inference_time is not None:
            timings["inference_s"] = answer.metrics.inference_time
        return await self._result(handle, timings)

    async def _result(self, handle: Handle, timings: dict[str, float]) -> Event:
        response = await self.http.send("GET", handle.urls["response"], safe_to_repeat=True)
        if response.status_code >= 400:
            detail = error_detail(response)
            error_type = _error_type(response)
            if error_type == CONTENT_POLICY or CONTENT_POLICY in detail:
                return Failed(ContentPolicyError(detail, provider=self.name))
            if response.status_code in (404, 410):
                return Failed(ResultExpiredError(detail, provider=self.name))
            try:
                self.http.check_status(response, what="result")
            except ProviderError as exc:
                return Failed(exc)
            return Failed(JobFailedError(detail, provider=self.name))
        result = read(Result, self.http.json_of(response, ambiguous=False))
        if result.video is None or not result.video.url:
            return Failed(JobFailedError("the result has no video", provider=self.name))
        return Succeeded(result.video.url, result.seed, timings)

    async def request_cancel(self, handle: Handle) -> bool:
        response = await self.http.send("PUT", handle.urls["cancel"], safe_to_repeat=True)
        return response.status_code in (200, 202)


def _error_type(response: Reply) -> str | None:
    try:
        body = read(ErrorBody, response.json())
    except ValueError:
        body = ErrorBody()
    if body.error_type:
        return body.error_type
    for item in body.detail:
        if isinstance(item, dict) and item.get("type") == CONTENT_POLICY:
            return CONTENT_POLICY
    return response.headers.get("x-fal-error-type")


PROVIDER = FalProvider

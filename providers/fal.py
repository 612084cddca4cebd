"""fal.ai queue API: fal-ai/framepack, fal-ai/framepack/flf2v, fal-ai/framepack/f1,
fal-ai/wan-flf2v. Submit to {base}/{app}; the answer carries status, response and
cancel URLs (which drop the app's sub-path); status is 202 while queued or running
and 200 once COMPLETED, possibly with an error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    ProviderError,
    ResultExpiredError,
    TransientError,
)
from providers.remote import RemoteProvider, data_uri, progress_from_logs
from providers.transport import error_detail

I2V, FLF = Mode.IMAGE_TO_VIDEO, Mode.FIRST_LAST_FRAME
CONTENT_POLICY = "content_policy_violation"


class FalProvider(RemoteProvider):
    name = "fal"
    capabilities = Capabilities(
        models={
            ModelFamily.FRAMEPACK: ModelSpec(
                endpoint={I2V: "fal-ai/framepack", FLF: "fal-ai/framepack/flf2v"},
                cfg=True,
                strength=True,
            ),
            ModelFamily.FRAMEPACK_F1: ModelSpec(endpoint={I2V: "fal-ai/framepack/f1"}, cfg=True),
            # Wan counts frames at its own 16 fps: 81..100 frames is 5 to 6 s.
            ModelFamily.WAN_FLF2V: ModelSpec(
                endpoint={FLF: "fal-ai/wan-flf2v"}, frames=(81, 100), steps=True
            ),
        },
        cancel=True,
        webhooks=True,
    )

    @staticmethod
    def auth_headers(api_key: str) -> Mapping[str, str]:
        return {"Authorization": f"Key {api_key}"}

    def submission(self, request: GenerationRequest, spec: ModelSpec, seed: int | None):
        app = spec.endpoint[request.mode]
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": pick_aspect_ratio(request, spec.aspect_ratios),
            "resolution": request.resolution,
            "num_frames": request.frames,
            "seed": seed,
            "enable_safety_checker": request.enable_safety_checker,
        }
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if request.model is ModelFamily.WAN_FLF2V:
            body["start_image_url"] = data_uri(request.image)
            body["end_image_url"] = data_uri(request.last_image)
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
        try:
            urls = {key: str(data[f"{key}_url"]) for key in ("status", "response", "cancel")}
            request_id = str(data["request_id"])
        except KeyError as exc:
            raise AmbiguousSubmitError(
                f"the submit answer lacks {exc}", provider=self.name
            ) from None
        return Handle(
            provider=self.name,
            endpoint=endpoint,
            request_id=request_id,
            seed=seed,
            submitted_at=self.clock(),
            urls=urls,
        )

    async def poll(self, handle: Handle) -> Event:
        data = await self.status_json("GET", handle.urls["status"], params={"logs": "1"})
        status = data.get("status")
        logs = tuple(str(entry.get("message", "")) for entry in data.get("logs") or ())
        if status == "IN_QUEUE":
            return Queued(data.get("queue_position"))
        if status == "IN_PROGRESS":
            return Running(progress_from_logs(logs), logs)
        if status != "COMPLETED":
            raise TransientError(f"unknown status {status!r}", provider=self.name)
        if data.get("error"):
            kind = (
                ContentPolicyError if data.get("error_type") == CONTENT_POLICY else JobFailedError
            )
            return Failed(kind(str(data["error"]), provider=self.name))
        timings = {}
        inference = (data.get("metrics") or {}).get("inference_time")
        if isinstance(inference, int | float):
            timings["inference_s"] = float(inference)
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
        data = self.http.json_of(response, ambiguous=False)
        video = data.get("video") or {}
        if not video.get("url"):
            return Failed(JobFailedError("the result has no video", provider=self.name))
        seed = data.get("seed")
        return Succeeded(video["url"], seed if isinstance(seed, int) else None, timings)

    async def request_cancel(self, handle: Handle) -> bool:
        response = await self.http.send("PUT", handle.urls["cancel"], safe_to_repeat=True)
        return response.status_code in (200, 202)


def _error_type(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error_type"):
        return str(body["error_type"])
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        for item in body["detail"]:
            if isinstance(item, dict) and item.get("type") == CONTENT_POLICY:
                return CONTENT_POLICY
    return response.headers.get("x-fal-error-type")

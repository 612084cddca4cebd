"""PiAPI: POST /api/v1/task with model Qubico/framepack, task_type img2video
(x-api-key), then GET /api/v1/task/{task_id}. Length is a duration of 10 to 30 s;
no seed, steps or guidance. The video URL has been seen in two shapes: accept both."""

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
)
from providers.errors import AmbiguousSubmitError, JobFailedError, TransientError
from providers.remote import RemoteProvider, data_uri

MODEL = "Qubico/framepack"


class PiAPIProvider(RemoteProvider):
    name = "piapi"
    capabilities = Capabilities(
        models={
            ModelFamily.FRAMEPACK: ModelSpec(
                endpoint={Mode.IMAGE_TO_VIDEO: MODEL, Mode.FIRST_LAST_FRAME: MODEL},
                frames=None,
                seconds=(10, 30),
                # The output follows the input image; no ratio or resolution option.
                aspect_ratios=(),
                resolutions=("480p",),
                guidance=False,
                seed=False,
                safety_switch=False,
            ),
        },
        cancel=False,
        webhooks=False,
    )

    @staticmethod
    def auth_headers(api_key: str) -> Mapping[str, str]:
        return {"x-api-key": api_key}

    def submission(self, request: GenerationRequest, spec: ModelSpec, seed: int | None):
        task_input: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "start_image": data_uri(request.image),
            "duration": round(request.seconds),
        }
        if request.last_image is not None:
            task_input["end_image"] = data_uri(request.last_image)
        body = {"model": MODEL, "task_type": "img2video", "input": task_input}
        return MODEL, "api/v1/task", body

    def handle_from(self, data: dict[str, Any], endpoint: str, seed: int | None) -> Handle:
        task = data.get("data") or {}
        if not task.get("task_id"):
            raise AmbiguousSubmitError("the submit answer has no task_id", provider=self.name)
        return Handle(
            provider=self.name,
            endpoint=endpoint,
            request_id=str(task["task_id"]),
            seed=None,
            submitted_at=self.clock(),
        )

    async def poll(self, handle: Handle) -> Event:
        task = (await self.status_json("GET", f"api/v1/task/{handle.request_id}")).get("data")
        if not isinstance(task, dict):
            raise TransientError("the status answer has no data", provider=self.name)
        status = str(task.get("status", "")).lower()
        if status in ("pending", "staged"):
            return Queued()
        if status == "processing":
            return Running()
        if status == "failed":
            error = task.get("error") or {}
            reason = error.get("message") or error.get("raw_message") or "no reason given"
            return Failed(JobFailedError(str(reason), provider=self.name))
        if status != "completed":
            raise TransientError(f"unknown status {status!r}", provider=self.name)
        url = video_url(task.get("output") or {})
        if url is None:
            return Failed(JobFailedError("completed without a video", provider=self.name))
        return Succeeded(url, None, {})


def video_url(output: dict[str, Any]) -> str | None:
    if output.get("video_url"):
        return str(output["video_url"])
    for work in output.get("works") or ():
        resource = (work or {}).get("resource") or {}
        if resource.get("resource"):
            return str(resource["resource"])
    return None

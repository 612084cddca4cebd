"""PiAPI: POST /api/v1/task with model Qubico/framepack, task_type img2video
(x-api-key), then GET /api/v1/task/{task_id}. Length is a duration of 10 to 30 s (at
30 fps); no seed, steps or guidance. Answers come as the task itself at the top level
(as the model's page documents the submit answer) or inside `data` (as the unified
API's reference does); the video URL in two shapes too: accept every one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AnyUrl, BeforeValidator, Field

from providers.answers import Answer, Text, only_objects, read
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
)
from providers.errors import AmbiguousSubmitError, JobFailedError, TransientError
from providers.remote import RemoteProvider, data_uri

MODEL = "Qubico/framepack"


class TaskError(Answer):
    message: Text = None
    raw_message: Text = None


class Resource(Answer):
    resource: Text = None


class Work(Answer):
    resource: Resource | None = None


class Output(Answer):
    video_url: Text = None
    works: Annotated[list[Work], BeforeValidator(only_objects)] = Field(default_factory=list)


class Task(Answer):
    task_id: Text = None
    status: Text = None
    error: TaskError | None = None
    output: Output | None = None


class Envelope(Answer):
    data: Task | None = None


def task_of(data: dict[str, Any]) -> Task | None:
    """The task, whether the answer wraps it in `data` or is the task itself."""
    wrapped = read(Envelope, data).data
    if wrapped is not None and (wrapped.task_id or wrapped.status):
        return wrapped
    task = read(Task, data)
    return task if task.task_id or task.status else None


class PiAPIConfig(RemoteProviderConfig):
    base_url: AnyUrl = AnyUrl("https://api.piapi.ai")


class PiAPIProvider(RemoteProvider):
    name = "piapi"
    config_class = PiAPIConfig
    key_variable = "PIAPI_API_KEY"
    listed = 3
    capabilities = Capabilities(
        models={
            ModelFamily.FRAMEPACK: ModelSpec(
                endpoint={Mode.IMAGE_TO_VIDEO: MODEL, Mode.FIRST_LAST_FRAME: MODEL},
                length=Length(10, 30, unit="seconds"),
                # The output follows the input image; no ratio or resolution option.
                aspect_ratios=(),
                resolutions=("480p",),
                guidance=None,
                seed=None,
                safety_switch=False,
            ),
        },
        cancel=False,
        webhooks=False,
    )

    @staticmethod
    def auth_headers(api_key: str) -> Mapping[str, str]:
        return {"x-api-key": api_key}

    async def submission(
        self, request: GenerationRequest, spec: ModelSpec, seed: int | None
    ) -> tuple[str, str, dict[str, Any]]:
        task_input: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "start_image": data_uri(request.image),
            "duration": spec.length_value(request),
        }
        if request.last_image is not None:
            task_input["end_image"] = data_uri(request.last_image)
        body = {"model": MODEL, "task_type": "img2video", "input": task_input}
        return MODEL, "api/v1/task", body

    def handle_from(self, data: dict[str, Any], endpoint: str, seed: int | None) -> Handle:
        task = task_of(data)
        if task is None or not task.task_id:
            raise AmbiguousSubmitError("the submit answer has no task_id", provider=self.name)
        return Handle(
            provider=self.name,
            endpoint=endpoint,
            request_id=task.task_id,
            seed=None,
            submitted_at=self.clock(),
        )

    async def poll(self, handle: Handle) -> Event:
        task = task_of(await self.status_json("GET", f"api/v1/task/{handle.request_id}"))
        if task is None:
            raise TransientError("the status answer has no data", provider=self.name)
        status = (task.status or "").lower()
        if status in ("pending", "staged"):
            return Queued()
        if status == "processing":
            return Running()
        if status == "failed":
            error = task.error or TaskError()
            reason = error.message or error.raw_message or "no reason given"
            return Failed(JobFailedError(reason, provider=self.name))
        if status != "completed":
            raise TransientError(f"unknown status {status!r}", provider=self.name)
        url = video_url(task.output or Output())
        if url is None:
            return Failed(JobFailedError("completed without a video", provider=self.name))
        return Succeeded(url, None, {})


def video_url(output: Output) -> str | None:
    if output.video_url:
        return output.video_url
    for work in output.works:
        if work.resource is not None and work.resource.resource:
            return work.resource.resource
    return None


PROVIDER = PiAPIProvider

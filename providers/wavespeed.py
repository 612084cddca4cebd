"""WaveSpeedAI v3: POST /api/v3/{model} (Bearer), then GET
/api/v3/predictions/{id}/result until completed or failed. No cancel. A completed job
whose has_nsfw_contents flags an output is a content-policy decision, not a success.

WaveSpeed documents its image fields as URLs. By default each image is uploaded first
through its media API, as its official SDK does (POST /api/v3/media/uploads for a
ticket, PUT the bytes where the ticket says, then use its download_url); the image
never travels as a chat platform's URL. `upload_images = false` sends data URIs
instead, for an operator who has checked that the API takes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AnyUrl, Field

from providers.answers import Answer, ErrorText, Items, Text, is_web_url, read
from providers.config import RemoteProviderConfig
from providers.contract import (
    Capabilities,
    Event,
    Failed,
    GenerationRequest,
    Handle,
    ImageInput,
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


class UploadInstruction(Answer):
    method: Text = None
    url: Text = None
    headers: dict[str, str] | None = None


class Ticket(Answer):
    upload: UploadInstruction | None = None
    download_url: Text = None


class TicketEnvelope(Answer):
    code: int | None = None
    message: Text = None
    data: Ticket | None = None


# The seed ranges WaveSpeed documents (-1 asks it to pick one; we always send ours).
FRAMEPACK_SEEDS = (0, 2_147_483_647)
WAN_SEEDS = (0, 9_999_999_999)


class WaveSpeedConfig(RemoteProviderConfig):
    base_url: AnyUrl = AnyUrl("https://api.wavespeed.ai")
    # WaveSpeed documents its image fields as URLs: each image is uploaded through its
    # media API first (as its SDK does). False sends data URIs instead.
    upload_images: bool = True


class WaveSpeedProvider(RemoteProvider):
    name = "wavespeed"
    config_class = WaveSpeedConfig
    key_variable = "WAVESPEED_API_KEY"
    listed = 2
    capabilities = Capabilities(
        models={
            ModelFamily.FRAMEPACK: ModelSpec(
                endpoint={I2V: "wavespeed-ai/framepack"}, steps=(4, 50), seed=FRAMEPACK_SEEDS
            ),
            ModelFamily.WAN_FLF2V: ModelSpec(
                endpoint={FLF: "wavespeed-ai/wan-flf2v"},
                length=Length(5, 10, unit="seconds"),
                steps=(1, 40),
                guidance=(1.01, 10),
                seed=WAN_SEEDS,
                # Not among Wan FLF2V's documented fields: not sent (our own checks run).
                safety_switch=False,
            ),
        },
        cancel=False,
        webhooks=True,
    )

    def __init__(self, *, upload_images: bool = True, **options: Any) -> None:
        super().__init__(**options)
        self.upload_images = upload_images

    @classmethod
    def options_from(cls, config: RemoteProviderConfig) -> dict[str, Any]:
        return {"upload_images": getattr(config, "upload_images", True)}

    @staticmethod
    def auth_headers(api_key: str) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    async def submission(
        self, request: GenerationRequest, spec: ModelSpec, seed: int | None
    ) -> tuple[str, str, dict[str, Any]]:
        model = spec.endpoint[request.job_mode]
        aspect = pick_aspect_ratio(request, spec.aspect_ratios)
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": seed,
        }
        if request.model is ModelFamily.WAN_FLF2V:
            body["first_image"] = await self.image_ref(request.image, "first")
            body["last_image"] = await self.image_ref(request.end_image, "last")
            body["size"] = WAN_SIZES[(request.resolution, aspect)]
            body["duration"] = spec.length_value(request)
        else:
            body.update(
                image=await self.image_ref(request.image, "image"),
                aspect_ratio=aspect,
                resolution=request.resolution,
                num_frames=spec.length_value(request),
                enable_safety_checker=request.enable_safety_checker,
            )
        for option in ("num_inference_steps", "guidance_scale"):
            if getattr(request, option) is not None:
                body[option] = getattr(request, option)
        return model, f"api/v3/{model}", body

    async def image_ref(self, image: ImageInput, name: str) -> str:
        """What an image field gets: the URL of the uploaded image, or a data URI."""
        if not self.upload_images:
            return data_uri(image)
        extension = image.mime_type.split("/")[1].replace("jpeg", "jpg")
        # Uploads bill nothing: a repeated ticket or PUT is harmless.
        ticket_reply = await self.http.send(
            "POST",
            "api/v3/media/uploads",
            json_body={
                "filename": f"{name}.{extension}",
                "size": len(image.data),
                "content_type": image.mime_type,
            },
            safe_to_repeat=True,
        )
        self.http.check_status(ticket_reply, what="image upload")
        answer = read(TicketEnvelope, self.http.json_of(ticket_reply, ambiguous=False))
        ticket = answer.data
        instruction = ticket.upload if ticket is not None else None
        if (
            ticket is None
            or instruction is None
            or (instruction.method or "").upper() != "PUT"
            or not is_web_url(instruction.url)
            or not is_web_url(ticket.download_url)
        ):
            raise TransientError(
                f"the image upload was not granted: {answer.message or 'no usable ticket'}",
                provider=self.name,
            )
        assert instruction.url is not None and ticket.download_url is not None
        put_reply = await self.http.send(
            "PUT",
            instruction.url,
            data=image.data,
            # The ticket's own headers only: the storage host never gets the API key.
            headers={"Content-Type": image.mime_type, **(instruction.headers or {})},
            safe_to_repeat=True,
        )
        if not 200 <= put_reply.status_code < 300:
            raise TransientError(
                f"the image upload failed: HTTP {put_reply.status_code}", provider=self.name
            )
        return ticket.download_url

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


PROVIDER = WaveSpeedProvider

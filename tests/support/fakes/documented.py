"""What each provider's documentation says a submit body must be, per model: field
names, which are required, types and ranges. The fakes validate every submit against
these, so a fake refuses what the real API documents it refuses, not merely what our
client happens to leave out (a renamed field, a float where an integer is documented,
a value out of range, a field the model does not document).

Sources (checked 2026-11/12): fal's schemas for fal-ai/framepack, framepack/flf2v,
framepack/f1 and wan-flf2v; WaveSpeed's pages for wavespeed-ai/framepack and
wavespeed-ai/wan-flf2v; PiAPI's Qubico/framepack img2video task; lannetech's
generate-video. Where a document gives no range, none is checked.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

Text = Annotated[str, StringConstraints(min_length=1)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+/\S*$")]
# fal documents data URIs for its image fields.
UrlOrDataUri = Annotated[str, StringConstraints(pattern=r"^(https?://[^\s/]+/|data:image/)\S*$")]
Seed = Annotated[int, Field(ge=0, le=9_999_999_999)]


class Documented(BaseModel):
    """Strict: an integer field refuses 10.0, a string field refuses 10; a field the
    document does not list is refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


# --- fal ------------------------------------------------------------------------------


class FalFramePack(Documented):
    prompt: Text
    image_url: UrlOrDataUri
    negative_prompt: str = ""
    seed: Seed | None = None
    aspect_ratio: Literal["16:9", "9:16"] = "16:9"
    resolution: Literal["480p", "720p"] = "480p"
    num_frames: Annotated[int, Field(ge=30, le=1800)] = 180
    guidance_scale: Annotated[float, Field(ge=0, le=32)] = 10
    cfg_scale: Annotated[float, Field(ge=0, le=32)] = 1
    enable_safety_checker: bool = True


class FalFramePackFlf2v(FalFramePack):
    end_image_url: UrlOrDataUri
    strength: Annotated[float, Field(ge=0, le=1)] = 0.8
    num_frames: Annotated[int, Field(ge=30, le=1800)] = 240


class FalWanFlf2v(Documented):
    prompt: Text
    start_image_url: UrlOrDataUri
    end_image_url: UrlOrDataUri
    negative_prompt: str = ""
    num_frames: Annotated[int, Field(ge=81, le=100)] = 81
    frames_per_second: Annotated[int, Field(ge=5, le=24)] = 16
    seed: Seed | None = None
    resolution: Literal["480p", "720p"] = "720p"
    num_inference_steps: Annotated[int, Field(ge=1, le=40)] = 30
    guide_scale: Annotated[float, Field(ge=1, le=10)] = 5
    enable_safety_checker: bool = True
    aspect_ratio: Literal["auto", "16:9", "9:16", "1:1"] = "auto"


FAL: dict[str, type[Documented]] = {
    "fal-ai/framepack": FalFramePack,
    "fal-ai/framepack/f1": FalFramePack,
    "fal-ai/framepack/flf2v": FalFramePackFlf2v,
    "fal-ai/wan-flf2v": FalWanFlf2v,
}

# --- WaveSpeed --------------------------------------------------------------------------


class WaveSpeedFramePack(Documented):
    prompt: Text
    image: Url  # documented as a URL
    negative_prompt: str = ""
    aspect_ratio: Literal["16:9", "9:16"] = "16:9"
    resolution: Literal["480p", "720p"] = "720p"
    seed: Annotated[int, Field(ge=-1, le=2_147_483_647)] = -1
    num_inference_steps: Annotated[int, Field(ge=4, le=50)] = 25
    num_frames: Annotated[int, Field(ge=30, le=1800)] = 180
    guidance_scale: Annotated[float, Field(ge=0, le=32)] = 10
    enable_safety_checker: bool = True


class WaveSpeedWanFlf2v(Documented):
    first_image: Url
    last_image: Url
    prompt: str = ""
    negative_prompt: str = ""
    size: Literal["832*480", "480*832", "1280*720", "720*1280"] = "832*480"
    duration: Annotated[int, Field(ge=5, le=10)] = 5
    num_inference_steps: Annotated[int, Field(ge=1, le=40)] = 30
    guidance_scale: Annotated[float, Field(ge=1.01, le=10)] = 5
    seed: Annotated[int, Field(ge=-1, le=9_999_999_999)] = -1
    enable_fast_mode: bool = False


WAVESPEED: dict[str, type[Documented]] = {
    "wavespeed-ai/framepack": WaveSpeedFramePack,
    "wavespeed-ai/wan-flf2v": WaveSpeedWanFlf2v,
}


class WaveSpeedUploadTicket(Documented):
    """POST /api/v3/media/uploads, as wavespeed 2.0.5's `Client.upload` sends it."""

    filename: Text
    size: Annotated[int, Field(ge=1)]
    content_type: str | None = None


# --- PiAPI ----------------------------------------------------------------------------


class PiAPIInput(Documented):
    prompt: Text
    start_image: UrlOrDataUri
    negative_prompt: str = ""
    end_image: UrlOrDataUri | None = None
    duration: Annotated[int, Field(ge=10, le=30)]


class PiAPITask(Documented):
    model: Literal["Qubico/framepack"]
    task_type: Literal["img2video"]
    input: PiAPIInput


# --- lannetech ----------------------------------------------------------------------------


class LannetechGenerate(Documented):
    """Every field required, as lannetech documents them; only `framepack`."""

    model: Literal["framepack"]
    prompt: Text
    negative_prompt: str
    image_url: UrlOrDataUri
    aspect_ratio: Literal["16:9", "9:16"]
    resolution: Literal["480p", "720p"]
    cfg_scale: int
    guidance_scale: int
    num_frames: Annotated[int, Field(ge=30, le=1800)]
    enable_safety_checker: bool


class LannetechFirstLast(LannetechGenerate):
    """Not documented: the shape an operator's `first_last_model` is sent in (fal's)."""

    model: str  # type: ignore[assignment]
    end_image_url: UrlOrDataUri


def problems(schema: type[Documented], body: Any) -> list[str]:
    """What the documentation says is wrong with `body` ([] when nothing is)."""
    try:
        schema.model_validate(body)
    except ValidationError as exc:
        return [
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()
        ]
    return []

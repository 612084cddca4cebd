"""`framepack-bot generate`: one job from the terminal, with a progress bar.

Exit codes: 0 done, 2 bad input (ours or the provider's mapping refused it before any
network call), 1 the provider failed. Each failure is one line on stderr.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bot.config import REMOTE_PROVIDERS, Settings, describe_validation_error, env_variable_for
from providers import (
    PROVIDERS,
    Failed,
    GenerationRequest,
    ImageInput,
    Provider,
    Queued,
    Running,
    Succeeded,
    VideoResult,
)
from providers.errors import InvalidInputError, ProviderError

MIME_BY_FORMAT: dict[str | None, Literal["image/png", "image/jpeg", "image/webp"]] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
}


class BadInput(Exception):
    """Something the user can fix: exit code 2."""


@dataclass(frozen=True)
class Outcome:
    result: VideoResult
    provider: str
    request_id: str
    elapsed_s: float
    download_s: float


def read_image(path: Path) -> ImageInput:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
    except (UnidentifiedImageError, OSError):
        raise BadInput(f"{path} is not an image (PNG, JPEG or WebP)") from None
    if image_format not in MIME_BY_FORMAT:
        raise BadInput(f"{path} is {image_format}; send PNG, JPEG or WebP")
    return ImageInput(data=data, mime_type=MIME_BY_FORMAT[image_format])


def build_request(**fields: object) -> GenerationRequest:
    try:
        # Validated here: the CLI's options arrive untyped.
        return GenerationRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        message = describe_validation_error(exc).replace("invalid configuration: ", "")
        raise BadInput(message) from None


def provider_for(settings: Settings, name: str) -> Provider:
    if name == "local":
        from bot.cli.run import build_local

        return build_local(settings)
    if name not in REMOTE_PROVIDERS:
        choices = ", ".join((*REMOTE_PROVIDERS, "local"))
        raise BadInput(f"unknown provider {name!r}; choose one of {choices}")
    config = settings.providers.remote(name)
    if not config.usable:
        missing = "api_key" if config.api_key is None else "base_url"
        if not config.enabled:
            raise BadInput(f"{name} is disabled in the configuration (providers.{name}.enabled)")
        variable = env_variable_for("providers", name, missing)
        raise BadInput(f"{name} is not configured: set {variable}")
    return PROVIDERS[name].from_config(config)


async def generate(
    provider: Provider, request: GenerationRequest, output: Path, console: Console
) -> Outcome:
    """Run one job with a live progress bar. Raises BadInput or ProviderError."""
    try:
        provider.check(request)
    except InvalidInputError as exc:
        raise BadInput(str(exc)) from None
    started = time.monotonic()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    # The bar is for people at a terminal; piped output gets only the summary.
    progress = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
    with progress:
        task = progress.add_task(f"{provider.name}: submitting", total=1.0)
        handle = await provider.submit(request)
        async for event in provider.watch(handle):
            match event:
                case Queued(position=position):
                    where = f" (position {position + 1})" if position is not None else ""
                    progress.update(task, description=f"{provider.name}: queued{where}")
                case Running(progress=fraction):
                    progress.update(
                        task, description=f"{provider.name}: generating", completed=fraction or 0
                    )
                case Failed(error=error):
                    raise error
                case Succeeded():
                    progress.update(
                        task, description=f"{provider.name}: downloading", completed=1.0
                    )
                    download_start = time.monotonic()
                    result = await provider.fetch_result(handle, event, output)
                    now = time.monotonic()
                    return Outcome(
                        result,
                        provider.name,
                        handle.request_id,
                        now - started,
                        now - download_start,
                    )
    raise ProviderError("the job ended without a result", provider=provider.name)


def summary(outcome: Outcome) -> str:
    result = outcome.result
    timings = [f"total {outcome.elapsed_s:.1f} s", f"download {outcome.download_s:.2f} s"]
    timings += [
        f"{name.removesuffix('_s')} {value:.2f} s" for name, value in sorted(result.timings.items())
    ]
    seed = result.seed if result.seed is not None else "chosen by the provider (not reported)"
    return (
        f"seed: {seed}\n"
        f"provider: {outcome.provider} (request {outcome.request_id}); " + ", ".join(timings) + "\n"
        f"video: {result.path} ({result.size_bytes / 1e6:.2f} MB)"
    )

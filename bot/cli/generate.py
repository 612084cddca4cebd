"""`framepack-bot generate`: one job from the terminal, with a progress bar.

Exit codes: 0 done, 2 bad input (ours or the provider's mapping refused it before any
network call), 1 the provider failed. Each failure is one line on stderr.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bot.config import REMOTE_PROVIDERS, Settings, describe_validation_error, env_variable_for
from bot.core import messages
from bot.core.images import ImageRejected, IntakeLimits, for_remote, load_image
from bot.core.media import VideoUnusable, frame_png, read_tags
from bot.core.recipe import NotARecipe, Recipe
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
from providers.contract import parse_loras
from providers.errors import InvalidInputError, ProviderError


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
    """The image as the chat path takes it (the same code: formats, the byte and pixel
    caps, truncation, orientation, transparency), encoded for a provider."""
    limits = IntakeLimits()
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:  # refused before it is read
            raise BadInput(f"{path}: {messages.image_too_many_bytes(size, limits.max_bytes)}")
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return for_remote(load_image(data, limits))
    except ImageRejected as exc:
        raise BadInput(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Remake:
    """What `generate --from VIDEO` takes from a video: its recipe and its frames."""

    recipe: Recipe
    image: ImageInput
    last_image: ImageInput | None


def remake(video: Path, image: Path | None) -> Remake:
    """The recipe a video of ours carries, the first image (the video's own first frame,
    an Extend's from where its part began, or `image`) and a last frame where the
    request had one (a loop's is its first)."""
    try:
        recipe = Recipe.from_tags(read_tags(video))
        first = read_image(image) if image else _frame(video, recipe.starts_at_frame)
        if recipe.loop:
            last: ImageInput | None = first
        else:
            last = _frame(video, -1) if recipe.has_last_image else None
    except OSError as exc:
        raise BadInput(f"cannot read {video}: {exc.strerror or exc}") from None
    except (VideoUnusable, NotARecipe) as exc:
        raise BadInput(f"{video}: {exc}") from None
    return Remake(recipe, first, last)


def _frame(video: Path, index: int) -> ImageInput:
    try:
        return for_remote(load_image(frame_png(video, index)))
    except ImageRejected as exc:
        raise BadInput(f"{video}: its frame {index} cannot be used: {exc}") from None


def check_output(path: Path) -> None:
    """Before anything is paid for: the video can be written at `path` (missing
    folders are made, as the download makes them)."""
    if path.is_dir():
        raise BadInput(f"{path} is a directory; give a file name such as {path / 'video.mp4'}")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(f"cannot write {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"cannot write {path}: {existing} is not writable")


def build_request(**fields: object) -> GenerationRequest:
    if isinstance(fields.get("loras"), str):  # --lora as typed
        try:
            fields["loras"] = parse_loras(str(fields["loras"]))
        except ValueError as exc:
            raise BadInput(f"--lora: {exc}") from None
    try:
        # Validated here: the CLI's options arrive untyped.
        return GenerationRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        message = describe_validation_error(exc).replace("invalid configuration: ", "")
        raise BadInput(message) from None


def provider_for(settings: Settings, name: str) -> Provider:
    if name == "local":
        from bot.cli.run import MissingExtra, build_local

        try:
            return build_local(settings)
        except MissingExtra as exc:
            raise BadInput(str(exc)) from None
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

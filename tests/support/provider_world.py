"""Shared set-up for provider tests: each provider beside its fake, on injected time."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field

from PIL import Image

from providers import PROVIDERS, GenerationRequest, ImageInput, RemoteProvider
from tests.support.fakes.fal import FakeFal
from tests.support.fakes.lannetech import FakeLannetech
from tests.support.fakes.piapi import FakePiAPI
from tests.support.fakes.provider_base import FakeProvider
from tests.support.fakes.wavespeed import FakeWaveSpeed

API_KEY = "sk-test-0123456789abcdef"
FAKES: dict[str, type[FakeProvider]] = {
    "fal": FakeFal,
    "wavespeed": FakeWaveSpeed,
    "piapi": FakePiAPI,
    "lannetech": FakeLannetech,
}
# What each provider needs on top of a plain request (PiAPI: 10..30 s only).
REQUEST_EXTRAS: dict[str, dict] = {"fal": {}, "wavespeed": {}, "piapi": {}, "lannetech": {}}


def png_bytes(width: int = 64, height: int = 36, color=(200, 60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def request_for(name: str, **changes) -> GenerationRequest:
    fields = {
        "prompt": "a red fox runs through snow",
        "image": ImageInput(data=png_bytes(), mime_type="image/png"),
        **REQUEST_EXTRAS[name],
        **changes,
    }
    return GenerationRequest(**fields)


@dataclass
class FakeTime:
    """Injected clock and sleep: waits are recorded and pass instantly."""

    now: float = 1_800_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make_provider(name: str, base_url: str, time: FakeTime, **overrides) -> RemoteProvider:
    options = dict(
        api_key=API_KEY,
        base_url=base_url,
        read_timeout=5,
        deadline=600,
        sleep=time.sleep,
        clock=time.clock,
    )
    options.update(overrides)
    return PROVIDERS[name](**options)

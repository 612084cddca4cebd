"""Backends behind one async contract: submit -> handle -> watch -> fetch_result.

A new backend is one file here plus a line in PROVIDERS.
"""

from __future__ import annotations

from providers.contract import (
    Capabilities,
    Event,
    Failed,
    GenerationRequest,
    Handle,
    ImageInput,
    Mode,
    ModelFamily,
    Provider,
    Queued,
    Running,
    Succeeded,
    VideoResult,
)
from providers.errors import ProviderError
from providers.fal import FalProvider
from providers.lannetech import LannetechProvider
from providers.piapi import PiAPIProvider
from providers.remote import RemoteProvider
from providers.wavespeed import WaveSpeedProvider

PROVIDERS: dict[str, type[RemoteProvider]] = {
    cls.name: cls for cls in (FalProvider, WaveSpeedProvider, PiAPIProvider, LannetechProvider)
}

__all__ = [
    "PROVIDERS",
    "Capabilities",
    "Event",
    "Failed",
    "FalProvider",
    "GenerationRequest",
    "Handle",
    "ImageInput",
    "LannetechProvider",
    "Mode",
    "ModelFamily",
    "PiAPIProvider",
    "Provider",
    "ProviderError",
    "Queued",
    "RemoteProvider",
    "Running",
    "Succeeded",
    "VideoResult",
    "WaveSpeedProvider",
]

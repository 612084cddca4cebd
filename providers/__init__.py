"""Backends behind one async contract: submit -> handle -> watch -> fetch_result.

A new remote backend is one module here that names its client in `PROVIDER`
(`providers/registry.py` finds it). A `providers/` folder elsewhere on the path adds to
this package too (pkgutil.extend_path): a provider can ship outside this repository.
"""

from __future__ import annotations

import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)


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
from providers.registry import discover
from providers.remote import RemoteProvider
from providers.wavespeed import WaveSpeedProvider

# Every remote provider, by name, in the order lists show them.
PROVIDERS: dict[str, type[RemoteProvider]] = discover(__name__, __path__)

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

"""Wiring: the pieces a running bot is made of, built from the settings."""

from __future__ import annotations

from typing import Any

from bot.config import REMOTE_PROVIDERS, Settings
from bot.safety import DenyList, SafetyChecker, default_detector
from providers import PROVIDERS, RemoteProvider


def build_providers(settings: Settings, **overrides: Any) -> dict[str, RemoteProvider]:
    """Every remote provider that is enabled and has its key and base URL."""
    return {
        name: PROVIDERS[name].from_config(settings.providers.remote(name), **overrides)
        for name in REMOTE_PROVIDERS
        if settings.providers.remote(name).usable
    }


def build_safety(settings: Settings, *, with_detector: bool = True) -> SafetyChecker:
    return SafetyChecker(
        DenyList.load(settings.safety.deny_list_path),
        default_detector() if with_detector else None,
        settings.safety.nudity_threshold,
    )

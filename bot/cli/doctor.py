"""`framepack-bot doctor`: what is configured and whether it can work, without secrets."""

from __future__ import annotations

import importlib.util
import platform
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from bot import __version__
from bot.config import REMOTE_PROVIDERS, Settings, env_variable_for
from bot.core.retention import disk_use
from storage import SCHEMA_VERSION, QuotaLedger, StorageError
from storage.backends import open_database


def mask(secret: SecretStr | None) -> str:
    """Enough to tell two keys apart, never enough to use one."""
    if secret is None:
        return "not set"
    value = secret.get_secret_value()
    return f"****{value[-4:]}" if len(value) >= 16 else "****"


async def report(settings: Settings, config_path: Path | None) -> tuple[list[str], bool]:
    """The report's lines, and whether everything it checked is healthy."""
    lines = [
        f"framepack-bot {__version__} (Python {platform.python_version()})",
        f"config file: {config_path or 'none (defaults, environment and .env)'}",
        f"data dir: {settings.data_dir}",
    ]
    healthy = True
    for section in (
        await _database(settings),
        _platforms(settings),
        _providers(settings),
        _engine(settings),
    ):
        lines += section.lines
        healthy = healthy and section.healthy
    lines += _policies(settings)
    return lines, healthy


@dataclass
class _Section:
    lines: list[str] = field(default_factory=list)
    healthy: bool = True


async def _database(settings: Settings) -> _Section:
    location = settings.store_location
    if isinstance(location, Path) and not location.exists():
        return _Section([f"database: {location} (not created yet; `framepack-bot run` creates it)"])
    try:
        db = await open_database(location, migrate=False)
    except (StorageError, OSError, sqlite3.Error) as exc:
        if isinstance(location, Path):
            return _Section([f"database: {location}: cannot open: {exc}"], healthy=False)
        return _Section([f"database: {exc}"], healthy=False)
    async with db:
        version = await db.schema_version()
        note = "" if version == SCHEMA_VERSION else "; `framepack-bot run` migrates it"
        section = _Section(
            [
                f"database: {db.dialect} {db.location} (schema version {version}, "
                f"this release: {SCHEMA_VERSION}{note})"
            ]
        )
        if version == SCHEMA_VERSION:
            problems = await QuotaLedger(db).verify()
            section.lines.append(
                "quota ledger: "
                + ("consistent" if not problems else f"{len(problems)} inconsistencies")
            )
            section.lines += [f"  {p}" for p in problems[:10]]
            section.healthy = not problems
    return section


def _platforms(settings: Settings) -> _Section:
    section = _Section()
    discord = settings.discord
    if discord.token is None:
        section.lines.append("discord: not configured (set DISCORD_TOKEN)")
    else:
        intent = (
            "on"
            if discord.message_content_intent
            else ("OFF: replying to an image with a prompt works only in DMs and with a mention")
        )
        section.lines.append(
            f"discord: token {mask(discord.token)}, api {discord.api_base_url}, "
            f"gateway {discord.gateway_url}, message content intent {intent}"
        )
    telegram = settings.telegram
    section.lines.append(
        "telegram: not configured (set TELEGRAM_BOT_TOKEN)"
        if telegram.token is None
        else f"telegram: token {mask(telegram.token)}, api {telegram.base_url}"
    )
    if discord.token is None and telegram.token is None:
        section.lines.append(
            "NOT READY: no chat platform is configured; `framepack-bot run` would stop"
        )
        section.healthy = False
    return section


def _providers(settings: Settings) -> _Section:
    providers = settings.providers
    section = _Section(
        [
            f"providers (default {providers.default_provider}"
            + (f", fallback {' > '.join(providers.fallback)}" if providers.fallback else "")
            + "):"
        ]
    )
    for name in REMOTE_PROVIDERS:
        conf = providers.remote(name)
        if not conf.enabled:
            state = "disabled"
        elif conf.api_key is None:
            state = f"no key (set {env_variable_for('providers', name, 'api_key')})"
        elif conf.base_url is None:
            state = f"no base_url (set {env_variable_for('providers', name, 'base_url')})"
        else:
            state = "ready"
        section.lines.append(
            f"  {name:<10} {state:<40} key {mask(conf.api_key)}  {conf.base_url or '-'}"
        )
    local = providers.local
    section.lines.append(
        f"  {'local':<10} "
        + ("enabled" if local.enabled else "disabled")
        + (f", worker pool at {mask(local.redis_url)}" if local.redis_url else "")
    )
    default_ready = (
        local.enabled
        if providers.default_provider == "local"
        else providers.remote(providers.default_provider).usable
    )
    if not default_ready:
        section.lines.append(
            f"  NOT READY: the default provider {providers.default_provider} cannot take "
            "jobs (jobs that name no provider would all be refused)"
        )
        section.healthy = False
    return section


def _engine(settings: Settings) -> _Section:
    engine, local = settings.engine, settings.providers.local
    section = _Section(
        [
            f"local engine: device {engine.device}, {engine.dtype}, offload {engine.offload}, "
            f"step cache {engine.step_cache}"
            + (f", {gpu_memory(engine.device)}" if local.enabled else "")
        ]
    )
    for label, folder in engine.folders().items():
        state = (
            "not set"
            if folder is None
            else f"{folder} ({'found' if folder.is_dir() else 'MISSING'})"
        )
        section.lines.append(f"  {label} {state}")
    for name, lora in engine.loras.items():
        found = lora.path.is_file()
        weight = f"default weight {lora.default_weight:g}"
        section.lines.append(
            f"  lora {name}: {lora.path} ({'found' if found else 'MISSING'}, {weight})"
        )
        section.healthy = section.healthy and (found or not local.enabled)
    if local.enabled:
        from providers.local import missing_weights

        for problem in missing_weights(engine):
            section.lines.append(f"  missing: {problem}")
            section.healthy = False
    return section


def _policies(settings: Settings) -> list[str]:
    """Quotas, safety, admins and the job files: what the bot is set to do."""
    q = settings.quotas
    guild = (
        "no guild budget"
        if q.guild_daily_credits is None
        else (f"guild {q.guild_daily_credits:g}/day")
    )
    s = settings.safety
    detector = (
        "NudeNet installed"
        if importlib.util.find_spec("nudenet") is not None
        else "NudeNet NOT installed: images are not checked (pip install '.[safety]')"
    )
    a = settings.admins
    use = disk_use(settings.data_dir / "jobs")
    st = settings.storage
    return [
        f"quotas: user {q.user_daily_credits:g}/day, {q.user_monthly_credits:g}/month, "
        f"{q.concurrent_jobs_per_user} at once; {guild}; queue {q.global_queue_length}",
        f"safety: {'on' if s.enabled_by_default else 'off'} by default, nudity threshold "
        f"{s.nudity_threshold:g}, deny list {s.deny_list_path or 'built-in only'}; {detector}",
        f"admins: {len(a.discord_user_ids)} Discord users, {len(a.discord_role_ids)} "
        f"Discord roles, {len(a.telegram_user_ids)} Telegram users",
        f"job files: {use.jobs} jobs, {use.bytes / 2**20:.1f} MiB in "
        f"{settings.data_dir / 'jobs'} (kept {st.keep_days:g} days, at most {st.max_disk_mb} MiB)",
    ]


def gpu_memory(device: str) -> str:
    """Free memory of the engine's GPU, when torch is installed and sees one."""
    try:
        import torch
    except ImportError:
        return "torch is not installed (pip install -e '.[local]')"
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return "no CUDA device visible"
    free, total = torch.cuda.mem_get_info(torch.device(device))
    return f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free"

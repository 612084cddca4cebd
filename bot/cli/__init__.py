"""The `framepack-bot` command: run, worker, doctor, generate, and the operators' quota
commands.

Exit codes: 0 done, 1 a runtime failure, 2 bad configuration or bad input — always
with one line on stderr that says what to fix, never a traceback.
"""

from __future__ import annotations

import os

# Before anything can import onnxruntime (NudeNet, diffusers' ONNX helpers): it would
# contact a telemetry host about 10 s later, whatever the command.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import asyncio
import getpass
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from bot.cli.doctor import report
from bot.cli.generate import (
    BadInput,
    Outcome,
    build_request,
    check_output,
    provider_for,
    read_image,
    remake,
    summary,
)
from bot.cli.generate import generate as run_generate
from bot.config import (
    MIN_POOL_SECRET,
    REMOTE_PROVIDERS,
    ConfigError,
    Settings,
    load_settings,
    resolve_config_path,
)
from bot.core.admin import AdminService
from bot.core.api import AdminRefused, QuotaTarget, Requester
from bot.core.messages import NO_OVERRIDES
from bot.core.quotas import credits_to_mc, format_credits, parse_subject
from bot.log import setup_logging
from providers import GenerationRequest, Provider
from providers.errors import ProviderError
from storage import StorageError, Store

log = logging.getLogger("bot.cli")
T = TypeVar("T")

app = typer.Typer(
    name="framepack-bot",
    help="Turns a still image and a prompt into a short video, in Discord and Telegram.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
quota_app = typer.Typer(
    help="Show and manage quotas (the same operations as the chat admin commands).",
    no_args_is_help=True,
)
app.add_typer(quota_app, name="quota")


@dataclass
class CliState:
    config_path: Path | None


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"framepack-bot: {message}", err=True)
    raise typer.Exit(code)


def load(ctx: typer.Context) -> Settings:
    """Settings with logging set up; a bad configuration ends the command with exit 2."""
    try:
        settings = load_settings(ctx.obj.config_path)
    except ConfigError as exc:
        fail(str(exc))
    setup_logging(settings.log_level, settings.secrets())
    return settings


def run_async(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(work())
    except (StorageError, sqlite3.Error, OSError) as exc:
        fail(f"database: {exc}", code=1)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML config file (default: $FPBOT_CONFIG, else ./framepack-bot.toml if present).",
        ),
    ] = None,
) -> None:
    ctx.obj = CliState(config_path=config)


@app.command()
def run(ctx: typer.Context) -> None:
    """Start the bot on every configured chat platform."""
    settings = load(ctx)
    platforms = [
        name
        for name, conf in (("discord", settings.discord), ("telegram", settings.telegram))
        if conf.token
    ]
    if not platforms:
        fail(
            "no chat platform is configured: set DISCORD_TOKEN (Discord) and/or "
            "TELEGRAM_BOT_TOKEN (Telegram), in the environment, in .env, or as token under "
            "[discord] / [telegram] in framepack-bot.toml"
        )

    # Imported here: the chat stacks (discord.py, aiohttp, python-telegram-bot) are only
    # needed to run the bot, and cost every other command a fifth of a second at start.
    import aiohttp
    import discord
    import telegram.error

    from bot.cli.run import MissingExtra, run_bot
    from bot.telegram.poller import AnotherPoller

    try:
        asyncio.run(run_bot(settings))
    except (MissingExtra, AnotherPoller) as exc:
        fail(str(exc), code=1)
    except KeyboardInterrupt:
        log.info("stopped")
    except aiohttp.ClientError as exc:
        fail(f"cannot reach Discord at {settings.discord.api_base_url}: {exc}", code=1)
    except (StorageError, sqlite3.Error, OSError) as exc:
        fail(f"database: {exc}", code=1)
    except discord.LoginFailure:
        fail("Discord refused the token (DISCORD_TOKEN): check it in the Developer Portal", code=1)
    except telegram.error.InvalidToken:
        fail("Telegram refused the token (TELEGRAM_BOT_TOKEN): check it with @BotFather", code=1)
    except telegram.error.NetworkError as exc:
        fail(f"cannot reach Telegram at {settings.telegram.base_url}: {exc}", code=1)
    except ImportError as exc:  # an extra this configuration needs is not installed
        fail(f"a module this configuration needs is not installed: {exc.name or exc}", code=1)


@app.command()
def worker(
    ctx: typer.Context,
    redis_url: Annotated[
        str | None,
        typer.Option(help="The pool's Redis (default: [providers.local] redis_url)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=8, help="Jobs at once; each loads its own engine.")
    ] = 1,
    gpu: Annotated[
        int | None, typer.Option(help="CUDA device index (default: [engine] device).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
    worker_id: Annotated[str | None, typer.Option(help="Default: <host>-<pid>.")] = None,
) -> None:
    """Serve the GPU worker pool: run the local engine's jobs from Redis."""
    settings = load(ctx)
    pool = settings.providers.local
    url = redis_url or (pool.redis_url.get_secret_value() if pool.redis_url else None)
    if not url:
        fail("no Redis URL: give --redis-url or set [providers.local] redis_url")
    if not pool.has_pool_secret:
        fail(
            f"set [providers.local] secret (FPBOT_PROVIDERS__LOCAL__SECRET, {MIN_POOL_SECRET}"
            " or more characters), the same as the bot's"
        )
    from providers.local import missing_weights

    problems = missing_weights(settings.engine)
    if problems:
        fail("the engine's weights are not all there:\n  " + "\n  ".join(problems))
    from bot.cli.worker import serve_worker
    from providers.pool.redis import SecretMismatch

    try:
        asyncio.run(
            serve_worker(
                settings,
                url,
                concurrency=concurrency,
                gpu=gpu,
                metrics_port=metrics_port,
                worker_id=worker_id,
            )
        )
    except KeyboardInterrupt:
        log.info("stopped")
    except SecretMismatch as exc:
        fail(str(exc))


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Print what is configured (secrets masked) and check the database."""
    settings = load(ctx)
    try:
        config_path = resolve_config_path(ctx.obj.config_path)
    except ConfigError as exc:
        fail(str(exc))
    lines, healthy = run_async(lambda: report(settings, config_path))
    typer.echo("\n".join(lines))
    if not healthy:
        raise typer.Exit(1)


@app.command("migrate-store")
def migrate_store_command(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option(
            "--from", help="The store to copy: sqlite:<path> (a bot's file) or postgresql://…"
        ),
    ],
    target: Annotated[
        str,
        typer.Option("--to", help="An empty store to copy into: postgresql://… or sqlite:<path>"),
    ],
) -> None:
    """Copy a stopped bot's whole store (jobs, ledger, limits, settings, audit) to another
    database, e.g. from SQLite to PostgreSQL."""
    settings = load(ctx)
    from bot.cli.migrate_store import migrate_store
    from storage.db import parse_location

    setup_logging(settings.log_level, [*settings.secrets(), *_passwords(source, target)])
    whole = run_async(
        lambda: migrate_store(parse_location(source), parse_location(target), say=typer.echo)
    )
    if not whole:
        raise typer.Exit(1)


def _passwords(*urls: str) -> list[str]:
    """The URLs given on the command line are secrets too (they may hold passwords)."""
    from storage.db import is_postgres_url

    return [url for url in urls if is_postgres_url(url)]


@app.command()
def generate(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the MP4.")],
    image: Annotated[
        Path | None, typer.Option(help="First frame: PNG, JPEG, WebP, GIF, HEIC or AVIF.")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(help="What should happen (at most 500 characters).")
    ] = None,
    from_video: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Re-make a video of this bot from the recipe in its MP4 (its first frame "
            "unless --image); any other option given changes that setting.",
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            help=f"{', '.join(REMOTE_PROVIDERS)} or local (default: providers.default_provider)."
        ),
    ] = None,
    last_image: Annotated[
        Path | None, typer.Option(help="Last frame: makes a first-last-frame job.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="framepack (default), framepack-f1 or wan-flf2v.")
    ] = None,
    resolution: Annotated[str | None, typer.Option(help="480p or 720p.")] = None,
    aspect_ratio: Annotated[str | None, typer.Option(help="16:9, 9:16 or auto.")] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds of video.")] = None,
    num_frames: Annotated[int | None, typer.Option(help="Frames at 30 fps (30..1800).")] = None,
    seed: Annotated[int | None, typer.Option(help="0..9999999999; random if unset.")] = None,
    steps: Annotated[int | None, typer.Option(help="Inference steps (4..50).")] = None,
    guidance: Annotated[float | None, typer.Option(help="Guidance scale (0..32).")] = None,
    cfg_scale: Annotated[float | None, typer.Option(help="CFG scale (0..32).")] = None,
    negative_prompt: Annotated[str | None, typer.Option(help="What to avoid.")] = None,
    strength: Annotated[
        float | None, typer.Option(help="Influence of the last frame (0..1).")
    ] = None,
    lora: Annotated[
        str | None, typer.Option(help="Local engine: installed LoRAs, name or name:0.7, a,b.")
    ] = None,
) -> None:
    """Make one video from the terminal: submit, follow progress, download."""
    settings = load(ctx)
    if settings.log_level == "INFO":  # the progress bar reports progress here
        logging.getLogger().setLevel(logging.WARNING)
    # The request's options as given (unset ones are None), by their request names.
    asked = {_REQUEST_FIELD.get(k, k): v for k, v in locals().items() if k in _REQUEST_OPTIONS}
    try:
        check_output(output)
        fields, recipe_provider = _request_fields(asked, image, last_image, from_video)
        request = build_request(**fields)
        backend = provider_for(settings, provider or recipe_provider or _default(settings))
    except BadInput as exc:
        fail(str(exc))
    typer.echo(summary(_generated(backend, request, output)))


_REQUEST_FIELD = {"steps": "num_inference_steps", "guidance": "guidance_scale", "lora": "loras"}
_REQUEST_OPTIONS = {
    "prompt",
    "model",
    "resolution",
    "aspect_ratio",
    "duration",
    "num_frames",
    "seed",
    "steps",
    "guidance",
    "cfg_scale",
    "negative_prompt",
    "strength",
    "lora",
}


def _default(settings: Settings) -> str:
    return settings.providers.default_provider


def _request_fields(
    asked: Mapping[str, object], image: Path | None, last_image: Path | None, video: Path | None
) -> tuple[dict[str, object], str | None]:
    """The request's fields — the options as given, over a video's recipe with --from —
    and the provider the recipe names. Raises BadInput."""
    given = {key: value for key, value in asked.items() if value is not None}
    last = read_image(last_image) if last_image else None
    if video is None:
        if image is None or "prompt" not in given:
            raise BadInput("give --image and --prompt, or --from VIDEO.mp4")
        return {**given, "image": read_image(image), "last_image": last}, None
    made = remake(video, image)
    fields = made.recipe.generation_fields()
    if "duration" in given:  # the length asked in seconds replaces the recipe's frames
        fields.pop("num_frames")
    last = last or made.last_image
    return {**fields, **given, "image": made.image, "last_image": last}, made.recipe.provider


def _generated(backend: Provider, request: GenerationRequest, output: Path) -> Outcome:
    """Run the job to its downloaded video, or fail with one line."""

    async def work() -> Outcome:
        try:
            return await run_generate(backend, request, output, Console(stderr=True))
        finally:
            await backend.aclose()

    try:
        return asyncio.run(work())
    except BadInput as exc:
        fail(str(exc))
    except ProviderError as exc:
        fail(str(exc), code=1)


# --- quota -------------------------------------------------------------------------


class Period(StrEnum):
    day = "day"
    month = "month"
    all = "all"


UserOpt = Annotated[str | None, typer.Option("--user", help="discord:<id> or telegram:<id>")]
RoleOpt = Annotated[str | None, typer.Option("--role", help="discord:<role id>")]
GuildOpt = Annotated[
    str | None, typer.Option("--guild", help="discord:<guild id> or telegram:<group chat id>")
]


def _subject(text: str) -> str:
    try:
        return parse_subject(text)
    except ValueError as exc:
        fail(str(exc))


def _target(user: str | None, role: str | None, guild: str | None) -> QuotaTarget:
    """--user or --role alone: their bot-wide limits; with --guild: their limits inside
    that server; --guild alone: the server's budget."""
    if user is not None and role is not None:
        fail("name exactly one of --user, --role, --guild (--guild may go with either)")
    guild_key = _subject(guild) if guild is not None else None
    if user is None and role is None:
        if guild_key is None:
            fail("name exactly one of --user, --role, --guild")
        return QuotaTarget("guild", guild_key=guild_key)
    bot_wide = guild_key is None
    if user is not None:
        return QuotaTarget("user", _subject(user), bot_wide=bot_wide, guild_key=guild_key)
    assert role is not None
    return QuotaTarget("role", _subject(role), bot_wide=bot_wide, guild_key=guild_key)


def _credits(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return credits_to_mc(text)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _operator() -> Requester:
    """Whoever runs the CLI is an operator (they hold the database and the config)."""
    return Requester(platform="cli", user_key=f"cli:{getpass.getuser()}")


async def _with_admin(settings: Settings, work: Callable[[AdminService, Store], Awaitable[T]]) -> T:
    async with await Store.open(
        settings.store_location, busy_timeout_ms=settings.storage.busy_timeout_ms
    ) as store:
        from bot.cli.run import build_admin

        admin = build_admin(
            store,
            settings,
            provider_names=[n for n in REMOTE_PROVIDERS if settings.providers.remote(n).usable],
        )
        try:
            return await work(admin, store)
        except AdminRefused as exc:
            fail(exc.message.rstrip("."))


def _where(target: QuotaTarget) -> str:
    if target.kind == "guild":
        return f"guild {target.guild_key}"
    where = f"{target.kind} {target.key}"
    return where if target.bot_wide else f"{where} in {target.guild_key}"


@quota_app.command("show")
def quota_show(
    ctx: typer.Context, user: UserOpt = None, role: RoleOpt = None, guild: GuildOpt = None
) -> None:
    """Balance and reset times of a user (in a guild, with --guild too), a role's limits,
    or a guild's budget."""
    settings = load(ctx)
    target = _target(user, role, guild)

    async def show(admin: AdminService, store: Store) -> str:
        lines = [_where(target)]
        if target.kind != "guild" and target.key is not None:  # the operators' overrides
            override = await store.limits.get(target.kind, target.key)
            if override is not None:
                lines.append(
                    "overrides: "
                    + ", ".join(
                        f"{name} {value}"
                        for name, value in (
                            ("daily", override.daily_mc and format_credits(override.daily_mc)),
                            (
                                "monthly",
                                override.monthly_mc and format_credits(override.monthly_mc),
                            ),
                            ("concurrent", override.concurrent_jobs),
                        )
                        if value is not None
                    )
                )
            elif target.kind == "role":
                lines.append(NO_OVERRIDES)
        if target.kind != "role" or not target.bot_wide:
            lines.append(await admin.quota_show(_operator(), target))
        return "\n".join(lines)

    typer.echo(run_async(lambda: _with_admin(settings, show)))


@quota_app.command("set")
def quota_set(
    ctx: typer.Context,
    user: UserOpt = None,
    role: RoleOpt = None,
    guild: GuildOpt = None,
    daily: Annotated[str | None, typer.Option(help="credits per UTC day")] = None,
    monthly: Annotated[str | None, typer.Option(help="credits per UTC month")] = None,
    concurrent: Annotated[int | None, typer.Option(min=1, max=100, help="jobs at once")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="drop the overrides")] = False,
) -> None:
    """Override the daily/monthly credits or concurrent jobs of a user or role (bot-wide,
    or inside the --guild), or a guild's daily budget."""
    settings = load(ctx)
    target = _target(user, role, guild)
    daily_mc, monthly_mc = _credits(daily, "--daily"), _credits(monthly, "--monthly")
    if clear == any(v is not None for v in (daily_mc, monthly_mc, concurrent)):
        fail("give --clear, or at least one of --daily, --monthly, --concurrent")

    async def apply(admin: AdminService, store: Store) -> str:
        await admin.quota_set(
            _operator(),
            target,
            daily_mc=daily_mc,
            monthly_mc=monthly_mc,
            concurrent=concurrent,
            clear=clear,
        )
        return f"{_where(target)}: " + ("overrides cleared" if clear else "limits updated")

    typer.echo(run_async(lambda: _with_admin(settings, apply)))


@quota_app.command("grant")
def quota_grant(
    ctx: typer.Context,
    credits: Annotated[
        str, typer.Argument(help="credits to add to the current day (and month, for a user)")
    ],
    user: UserOpt = None,
    guild: GuildOpt = None,
) -> None:
    """Give a user (bot-wide, or inside the --guild) or a guild extra credits for the
    current windows."""
    settings = load(ctx)
    target = _target(user, None, guild)
    amount = _credits(credits, "CREDITS")
    if not amount:
        fail("CREDITS: grant more than 0 credits")

    async def apply(admin: AdminService, store: Store) -> str:
        await admin.quota_grant(_operator(), target, amount)
        return f"{_where(target)}: granted {format_credits(amount)} credits"

    typer.echo(run_async(lambda: _with_admin(settings, apply)))


@quota_app.command("reset")
def quota_reset(
    ctx: typer.Context,
    user: UserOpt = None,
    guild: GuildOpt = None,
    period: Annotated[Period, typer.Option(help="which window")] = Period.all,
) -> None:
    """Forget what a user (bot-wide, or inside the --guild) or a guild used in the
    current window(s); running jobs still count."""
    settings = load(ctx)
    target = _target(user, None, guild)
    periods = ["day", "month"] if period is Period.all else [period.value]

    async def apply(admin: AdminService, store: Store) -> str:
        await admin.quota_reset(_operator(), target, periods)
        return f"{_where(target)}: {period.value} usage reset"

    typer.echo(run_async(lambda: _with_admin(settings, apply)))


def main() -> None:
    app(prog_name="framepack-bot")

"""Configuration: one typed tree, read from a TOML file, `FPBOT_*` variables, `.env`
and the conventional variables (`DISCORD_TOKEN`, `FAL_KEY`, ...).

Precedence, highest first: `FPBOT_*` environment variables, `FPBOT_*` lines in `.env`,
conventional variables (environment, then `.env`), the TOML file, the defaults below.
`framepack-bot.example.toml` documents every key; a test keeps the two in step.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import (
    AnyUrl,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from providers import PROVIDERS
from providers.config import MIN_SECRET as MIN_SECRET
from providers.config import RemoteProviderConfig, Secret, Section
from storage.db import StoreLocation, is_postgres_url

CONFIG_ENV_VAR = "FPBOT_CONFIG"
DEFAULT_CONFIG_FILE = Path("framepack-bot.toml")

# Every provider the registry (providers/registry.py) found, and the local engine.
REMOTE_PROVIDERS: tuple[str, ...] = tuple(PROVIDERS)
PROVIDER_NAMES: tuple[str, ...] = (*REMOTE_PROVIDERS, "local")
if TYPE_CHECKING:
    ProviderName = str
else:  # a Literal of the names found at start: the errors list them
    ProviderName = Literal[PROVIDER_NAMES]

# The variable names each service's own documentation uses, mapped into our tree.
CONVENTIONAL_ENV: dict[str, tuple[str, ...]] = {
    "DISCORD_TOKEN": ("discord", "token"),
    "TELEGRAM_BOT_TOKEN": ("telegram", "token"),
    **{
        client.key_variable: ("providers", name, "api_key")
        for name, client in PROVIDERS.items()
        if client.key_variable
    },
}


def env_variable_for(*path: str) -> str:
    """The variable an operator sets for a key path: the conventional name if there is
    one, else the FPBOT_ form. env_variable_for("providers", "fal", "api_key") -> FAL_KEY."""
    for name, target in CONVENTIONAL_ENV.items():
        if target == path:
            return name
    return "FPBOT_" + "__".join(part.upper() for part in path)


Credits = Annotated[float, Field(ge=0, le=10_000_000)]


class DiscordConfig(Section):
    token: Secret = None
    application_id: int | None = None
    # Guilds whose command list is synced at start (instant); empty = global sync only.
    guild_ids: list[int] = []
    # REST proxies (nirn-proxy) and the tests' loopback fake replace these two.
    api_base_url: AnyUrl = AnyUrl("https://discord.com/api/v10")
    gateway_url: AnyUrl = AnyUrl("wss://gateway.discord.gg")
    # Privileged intent, needed for "reply to an image with a prompt" in guilds.
    message_content_intent: bool = True
    # Per user: at most `animate_rate` requests (slash, menu, replies) in
    # `animate_per_s` seconds; more get "try again in N s".
    animate_rate: Annotated[int, Field(ge=1, le=1000)] = 3
    animate_per_s: Annotated[float, Field(gt=0, le=86_400)] = 60
    # Discord's shards (a server's events all come through one of shard_count): this
    # process connects shard_ids (unset: every one). Several processes on one store
    # split them, each with its own shard_ids and the same shard_count. DMs come
    # through shard 0.
    shard_count: Annotated[int, Field(ge=1, le=100_000)] = 1
    shard_ids: list[Annotated[int, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _shards_exist(self) -> DiscordConfig:
        if self.shard_ids is not None:
            if not self.shard_ids:
                raise ValueError("shard_ids: name at least one shard, or leave it unset")
            if len(set(self.shard_ids)) != len(self.shard_ids):
                raise ValueError("shard_ids: each shard once")
            beyond = [n for n in self.shard_ids if n >= self.shard_count]
            if beyond:
                raise ValueError(
                    f"shard_ids: {beyond} not below shard_count ({self.shard_count}); "
                    "shards are numbered from 0"
                )
        return self


class TelegramConfig(Section):
    token: Secret = None
    # A local Bot API server (bigger uploads) or the tests' fake replace these two.
    base_url: AnyUrl = AnyUrl("https://api.telegram.org/bot")
    base_file_url: AnyUrl = AnyUrl("https://api.telegram.org/file/bot")
    # base_url is a local Bot API server started with --local: no 20 MB download
    # limit, uploads up to 2000 MB.
    local_mode: bool = False
    # With local_mode: the local Bot API server's files directory (its --dir). Its
    # getFile answers are absolute paths, read only when they lie under this; unset,
    # such paths are refused.
    local_files_dir: Path | None = None
    # Webhook mode instead of long polling: Telegram posts updates to webhook_url,
    # which a reverse proxy forwards to listen:port. The secret is checked on every
    # update (X-Telegram-Bot-Api-Secret-Token).
    webhook_url: AnyUrl | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: Annotated[int, Field(ge=1, le=65535)] = 8443
    webhook_secret: Secret = None
    # Seconds to wait for the rest of an album (its photos arrive as separate updates).
    album_window_s: Annotated[float, Field(gt=0, le=10)] = 1.0
    # Per user: at most `animate_rate` requests (every way in together) in
    # `animate_per_s` seconds; more get "try again in N s".
    animate_rate: Annotated[int, Field(ge=1, le=1000)] = 3
    animate_per_s: Annotated[float, Field(gt=0, le=86_400)] = 60

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> TelegramConfig:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("telegram.webhook_url needs telegram.webhook_secret")
        return self


MIN_POOL_SECRET = 16  # characters


class LocalProviderConfig(Section):
    enabled: bool = False
    # Redis URL of the GPU worker pool (redis://[:password@]host:6379/0); unset = run
    # the engine in this process. The bot and every worker need the same URL and secret.
    redis_url: SecretStr | None = None
    # Signs every task in Redis (HMAC): without it nobody can make a worker or the bot
    # unpickle what they wrote there. Any long random string; required with redis_url.
    secret: Secret = None
    queue: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")] = "framepack"
    # Served before everybody else (user keys like "discord:1234", or Discord role keys
    # like "discord:5678"); everyone else round-robin.
    priority_users: list[str] = []
    priority_roles: list[str] = []
    # GPU workers: a dead worker's job moves to another after one to two idle timeouts.
    idle_timeout_s: Annotated[float, Field(ge=1, le=3600)] = 60
    # After SIGTERM, a worker's current job may finish for this long, else it is handed
    # back to the queue.
    grace_s: Annotated[int, Field(ge=0, le=3600)] = 0
    # How long finished videos wait in Redis for the bot.
    result_ttl_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 3600

    @property
    def has_pool_secret(self) -> bool:
        return self.secret is not None and len(self.secret) >= MIN_POOL_SECRET

    @model_validator(mode="after")
    def _pool_needs_a_secret(self) -> LocalProviderConfig:
        if self.redis_url is not None and not self.has_pool_secret:
            raise ValueError(
                "providers.local.redis_url needs providers.local.secret too "
                f"({MIN_POOL_SECRET} or more characters, the same on the bot and every worker)"
            )
        return self


class _ProvidersSection(Section):
    default_provider: ProviderName = "fal"
    # Providers tried in order when the chosen one fails transiently before a job started.
    fallback: list[ProviderName] = []
    local: LocalProviderConfig = LocalProviderConfig()

    def remote(self, name: str) -> RemoteProviderConfig:
        if name not in REMOTE_PROVIDERS:
            raise KeyError(name)
        config = getattr(self, name)
        assert isinstance(config, RemoteProviderConfig)
        return config


# [providers]: the section above and one [providers.<name>] per registered provider,
# each of its client's config_class.
if TYPE_CHECKING:
    ProvidersConfig = _ProvidersSection
else:
    ProvidersConfig = create_model(
        "ProvidersConfig",
        __base__=_ProvidersSection,
        __module__=__name__,
        **{
            name: (client.config_class, client.config_class()) for name, client in PROVIDERS.items()
        },
    )


class QuotaConfig(Section):
    """Credits: seconds of output video x resolution factor (480p = 1, 720p = 1.5)."""

    user_daily_credits: Credits = 60
    user_monthly_credits: Credits = 600
    # Per guild (Discord) or group chat (Telegram) per day; unset = no guild budget.
    guild_daily_credits: Credits | None = 600
    concurrent_jobs_per_user: Annotated[int, Field(ge=1, le=100)] = 2
    # Jobs queued or running across the whole service.
    global_queue_length: Annotated[int, Field(ge=1, le=100_000)] = 100


class LimitsConfig(Section):
    """What one video may become."""

    # The longest video Extend may build (the earlier parts and the new one together).
    max_total_seconds: Annotated[float, Field(ge=5, le=600)] = 60
    # Minutes a Remix waits for its new prompt (Telegram's reply; a Discord form has
    # its own 15).
    remix_wait_minutes: Annotated[int, Field(ge=1, le=1440)] = 10


class SafetyConfig(Section):
    # New guilds, chats and DMs start with the checker on; admins may switch it off.
    enabled_by_default: bool = True
    nudity_threshold: Annotated[float, Field(gt=0, le=1)] = 0.6
    # Frames sampled from each output video for the NSFW check.
    output_frames_checked: Annotated[int, Field(ge=1, le=64)] = 6
    # Extra deny-list terms, one per line; the shipped list always applies.
    deny_list_path: Path | None = None
    # Guild admins may switch the checker off, and only for age-restricted (NSFW)
    # channels; operators always may. The rule on minors applies regardless.
    guild_admins_may_disable: bool = False


class MetricsConfig(Section):
    # A Prometheus endpoint (/metrics) on this port; unset = none. Workers take
    # `framepack-bot worker --metrics-port`.
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    address: str = "127.0.0.1"


class StorageConfig(Section):
    # An SQLite file (unset: <data_dir>/framepack-bot.sqlite3), or a PostgreSQL URL
    # ("postgresql://user:password@host/db"), kept secret: it may hold a password.
    database: Path | SecretStr | None = None
    busy_timeout_ms: Annotated[int, Field(ge=0, le=600_000)] = 5000
    # Job files (inputs, results, re-encodes under <data_dir>/jobs): kept this many days
    # after the job ended, and all together within max_disk_mb (oldest go first).
    keep_days: Annotated[float, Field(gt=0, le=3650)] = 7
    max_disk_mb: Annotated[int, Field(ge=100, le=10_000_000)] = 20_000
    # Several processes on one store: a process holds the jobs it runs for this long,
    # renewed a third of the way; another adopts them once a lease runs out (at once
    # when their process is known dead on the same machine).
    job_lease_s: Annotated[float, Field(ge=1, le=3600)] = 30

    @field_validator("database", mode="before")
    @classmethod
    def _url_or_path(cls, value: Any) -> Any:
        if isinstance(value, str):
            return SecretStr(value) if is_postgres_url(value) else Path(value)
        return value


class LoraFile(Section):
    """One LoRA the operator installed (a HunyuanVideo LoRA, .safetensors)."""

    path: Path
    default_weight: Annotated[float, Field(ge=0, le=2)] = 1.0


LoraName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class EngineConfig(Section):
    """The local FramePack engine: local folders only, no hub access at run time."""

    base_model_dir: Path | None = None  # hunyuanvideo-community/HunyuanVideo
    transformer_dir: Path | None = None  # lllyasviel/FramePackI2V_HY
    f1_transformer_dir: Path | None = None  # lllyasviel/FramePack_F1_I2V_HY_20250503
    image_encoder_dir: Path | None = None  # lllyasviel/flux_redux_bfl
    # The bucket table's base resolution per requested resolution (FramePack: 640).
    buckets: dict[Literal["480p", "720p"], Annotated[int, Field(ge=64, le=1536)]] = {
        "480p": 640,
        "720p": 960,
    }
    device: str = "cuda"
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    # auto: everything on the GPU above ~60 GB free, else model offload.
    offload: Literal["auto", "none", "model", "group"] = "auto"
    vae_tiling: bool = True
    step_cache: Literal[
        "none", "first-block", "mag-cache", "faster-cache", "pyramid-attention-broadcast"
    ] = "none"
    step_cache_threshold: Annotated[float, Field(gt=0, le=1)] | None = None
    # A draft's step cache when step_cache is none: fast and rough, as a draft should be.
    draft_step_cache: Literal[
        "none", "first-block", "faster-cache", "pyramid-attention-broadcast"
    ] = "first-block"
    mag_ratios: list[float] = []
    attention_backend: str | None = None
    compile: bool = False
    # [engine.loras] name = {path = "...", default_weight = 0.8}: what users may pick.
    loras: dict[LoraName, LoraFile] = {}

    def folders(self) -> dict[str, Path | None]:
        return {
            "base_model_dir": self.base_model_dir,
            "transformer_dir": self.transformer_dir,
            "f1_transformer_dir": self.f1_transformer_dir,
            "image_encoder_dir": self.image_encoder_dir,
        }


class AdminsConfig(Section):
    discord_user_ids: list[int] = []
    discord_role_ids: list[int] = []
    telegram_user_ids: list[int] = []


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FPBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        # .env also holds the conventional names (DISCORD_TOKEN...); those are read by
        # ConventionalEnvSource, so the dotenv source takes only our own fields.
        dotenv_filtering="only_existing",
        env_ignore_empty=True,
        extra="forbid",
        hide_input_in_errors=True,
        frozen=True,
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Path("data")
    discord: DiscordConfig = DiscordConfig()
    telegram: TelegramConfig = TelegramConfig()
    providers: ProvidersConfig = ProvidersConfig()
    quotas: QuotaConfig = QuotaConfig()
    limits: LimitsConfig = LimitsConfig()
    safety: SafetyConfig = SafetyConfig()
    storage: StorageConfig = StorageConfig()
    engine: EngineConfig = EngineConfig()
    admins: AdminsConfig = AdminsConfig()
    metrics: MetricsConfig = MetricsConfig()

    @property
    def store_location(self) -> StoreLocation:
        """The store's database: an SQLite file's path, or a PostgreSQL URL."""
        return self.storage.database or self.data_dir / "framepack-bot.sqlite3"

    def secrets(self) -> list[str]:
        """Every configured secret value, for log redaction."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, SecretStr):
                found.append(node.get_secret_value())
            elif isinstance(node, BaseModel):
                for name in type(node).model_fields:
                    walk(getattr(node, name))

        walk(self)
        return [s for s in found if s]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_cls.model_config.get("toml_file")
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            ConventionalEnvSource(settings_cls),
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )


class ConventionalEnvSource(PydanticBaseSettingsSource):
    """Reads `DISCORD_TOKEN`, `FAL_KEY`, ... from the environment and from `.env`."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ returns the whole tree at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        env_file = self.config.get("env_file")
        from_file = (
            dotenv_values(env_file)
            if isinstance(env_file, str | Path) and Path(env_file).is_file()
            else {}
        )
        tree: dict[str, Any] = {}
        for variable, path in CONVENTIONAL_ENV.items():
            value = os.environ.get(variable) or from_file.get(variable)
            if not value:
                continue
            node = tree
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        return tree


class ConfigError(Exception):
    """A configuration problem, worded as one line for the operator."""


def resolve_config_path(explicit: Path | None) -> Path | None:
    """`--config`, else `FPBOT_CONFIG`, else ./framepack-bot.toml when it exists."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return explicit
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from {CONFIG_ENV_VAR})")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(config_path: Path | None = None) -> Settings:
    """Build the settings, turning every failure into a one-line `ConfigError`."""
    path = resolve_config_path(config_path)
    # The TOML path is chosen at run time, so it goes into a derived class's config
    # rather than into the shared `Settings.model_config`.
    bound = type(
        "Settings",
        (Settings,),
        {"model_config": {**Settings.model_config, "toml_file": path}, "__module__": __name__},
    )
    try:
        return bound()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line: each bad field by its dotted name and why (never its value)."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "config"
        reason = error["msg"]
        if error["type"] == "extra_forbidden":
            reason = "unknown setting (check the spelling against framepack-bot.example.toml)"
        parts.append(f"{field}: {reason}")
    return "invalid configuration: " + "; ".join(parts)

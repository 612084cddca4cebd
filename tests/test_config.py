"""Configuration: sources, precedence, secrets, and one-line errors."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from bot.config import CONVENTIONAL_ENV, ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "framepack-bot.example.toml"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("FPBOT_") or name in CONVENTIONAL_ENV:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env or framepack-bot.toml


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_need_no_file() -> None:
    settings = load_settings()
    assert settings.store_location == Path("data/framepack-bot.sqlite3")
    assert settings.providers.default_provider == "fal"
    assert settings.discord.token is None and not settings.providers.fal.usable


def test_toml_file_from_flag_and_from_environment(tmp_path: Path, monkeypatch) -> None:
    conf = write(tmp_path / "x.toml", "[quotas]\nuser_daily_credits = 12.5\n")
    assert load_settings(conf).quotas.user_daily_credits == 12.5
    monkeypatch.setenv("FPBOT_CONFIG", str(conf))
    assert load_settings().quotas.user_daily_credits == 12.5


def test_default_file_in_working_directory_is_read(tmp_path: Path) -> None:
    write(tmp_path / "framepack-bot.toml", 'log_level = "DEBUG"\n')
    assert load_settings().log_level == "DEBUG"


def test_missing_config_file_is_an_error(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.toml"):
        load_settings(tmp_path / "nope.toml")
    monkeypatch.setenv("FPBOT_CONFIG", "elsewhere.toml")
    with pytest.raises(ConfigError, match="from FPBOT_CONFIG"):
        load_settings()


def test_environment_beats_toml_and_nests_with_double_underscore(tmp_path, monkeypatch):
    conf = write(
        tmp_path / "x.toml", "[providers.fal]\npoll_interval = 4\nmax_poll_interval = 20\n"
    )
    monkeypatch.setenv("FPBOT_PROVIDERS__FAL__POLL_INTERVAL", "5")
    monkeypatch.setenv("FPBOT_ADMINS__DISCORD_USER_IDS", "[11, 22]")
    settings = load_settings(conf)
    assert settings.providers.fal.poll_interval == 5
    assert settings.providers.fal.max_poll_interval == 20  # the rest of the table stays
    assert settings.admins.discord_user_ids == [11, 22]


def test_conventional_variables_fill_the_tree(monkeypatch) -> None:
    values = {name: f"value-of-{name.lower()}" for name in CONVENTIONAL_ENV}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.discord.token.get_secret_value() == values["DISCORD_TOKEN"]
    assert settings.telegram.token.get_secret_value() == values["TELEGRAM_BOT_TOKEN"]
    assert settings.providers.fal.api_key.get_secret_value() == values["FAL_KEY"]
    assert settings.providers.lannetech.api_key.get_secret_value() == values["LANNETECH_API_KEY"]
    assert sorted(settings.secrets()) == sorted(values.values())


def test_prefixed_variable_beats_conventional_one(monkeypatch) -> None:
    monkeypatch.setenv("FAL_KEY", "conventional")
    monkeypatch.setenv("FPBOT_PROVIDERS__FAL__API_KEY", "prefixed")
    assert load_settings().providers.fal.api_key.get_secret_value() == "prefixed"


def test_dotenv_file_is_read_for_both_kinds_of_variable(tmp_path: Path) -> None:
    write(tmp_path / ".env", "DISCORD_TOKEN=from-dotenv\nFPBOT_LOG_LEVEL=WARNING\n")
    settings = load_settings()
    assert settings.discord.token.get_secret_value() == "from-dotenv"
    assert settings.log_level == "WARNING"


def test_secrets_are_secret_str_and_hidden_in_repr(monkeypatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "super-secret-token-123")
    settings = load_settings()
    assert isinstance(settings.discord.token, SecretStr)
    assert "super-secret-token-123" not in repr(settings)
    assert "super-secret-token-123" not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        (
            "[quotas]\nconcurrent_jobs_per_user = 0\n",
            {},
            r"quotas\.concurrent_jobs_per_user: Input should be greater than or equal to 1",
        ),
        (
            "",
            {"FPBOT_PROVIDERS__FAL__POLL_INTERVAL": "soon"},
            r"providers\.fal\.poll_interval: Input should be a valid number",
        ),
        ("[discord]\ntokn = 'x'\n", {}, r"discord\.tokn: unknown setting"),
        (
            "[providers]\ndefault_provider = 'openai'\n",
            {},
            r"providers\.default_provider: Input should be 'fal', 'wavespeed'",
        ),
        (
            "[providers.fal]\npoll_interval = 10\nmax_poll_interval = 5\n",
            {},
            r"providers\.fal: Value error, max_poll_interval must be at least poll_interval",
        ),
        ("[discord]\napi_base_url = 'not a url'\n", {}, r"discord\.api_base_url: Input should be"),
        (
            "[discord]\nshard_count = 2\nshard_ids = [1, 2]\n",
            {},
            r"discord: Value error, shard_ids: \[2\] not below shard_count \(2\)",
        ),
        ("[discord]\nshard_ids = [0, 0]\n", {}, r"discord: Value error, shard_ids: each shard"),
    ],
)
def test_bad_values_give_one_line_naming_the_field(tmp_path, monkeypatch, toml, env, expected):
    conf = write(tmp_path / "bad.toml", toml)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(conf)
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(expected, message), message


def test_a_bad_secret_is_named_but_never_echoed(tmp_path: Path) -> None:
    conf = write(tmp_path / "bad.toml", "[telegram]\ntoken = 12345678901234567\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(conf)
    assert "telegram.token" in str(caught.value)
    assert "12345678901234567" not in str(caught.value)


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    conf = write(tmp_path / "broken.toml", "[quotas]\nuser_daily_credits = = 3\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML: .*line 2"):
        load_settings(conf)


def test_a_postgresql_url_is_kept_secret_and_a_path_stays_a_path(monkeypatch) -> None:
    url = "postgresql://framepack:pg-secret-word@db.internal/framepack"
    monkeypatch.setenv("FPBOT_STORAGE__DATABASE", url)
    settings = Settings()
    assert settings.store_location.get_secret_value() == url  # type: ignore[union-attr]
    assert "pg-secret-word" not in repr(settings) and url in settings.secrets()
    monkeypatch.setenv("FPBOT_STORAGE__DATABASE", "elsewhere/bot.sqlite3")
    assert Settings().store_location == Path("elsewhere/bot.sqlite3")


def test_example_config_loads_to_the_defaults() -> None:
    example = load_settings(EXAMPLE)
    assert example.model_dump() == Settings().model_dump()


def documented_keys(text: str) -> set[str]:
    """Every key in the example, commented out or not, as a dotted path."""
    keys, section = set(), ""
    for line in text.splitlines():
        header = re.match(r"^\[([a-z_.]+)\]$", line)
        if header:
            section = header.group(1) + "."
            continue
        key = re.match(r"^#?\s?([a-z0-9_]+) = ", line)
        if key:
            keys.add(section + key.group(1))
    return keys


def settings_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= settings_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_example_config_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    tomllib.loads(text)
    assert documented_keys(text) == settings_keys(Settings)


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("FAL_KEY", "providers.fal.api_key"),
        ("DISCORD_TOKEN", "discord.token"),
        ("TELEGRAM_BOT_TOKEN", "telegram.token"),
        ("FPBOT_TELEGRAM__WEBHOOK_SECRET", "telegram.webhook_secret"),
    ],
)
def test_an_implausibly_short_secret_is_refused_at_load(monkeypatch, variable, field) -> None:
    """FAL_KEY=x would otherwise turn every "x" in the log into [redacted]."""
    monkeypatch.setenv(variable, "x")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    message = str(caught.value)
    assert field in message and "under 8 characters" in message and "\n" not in message
    monkeypatch.setenv(variable, "x" * 8)
    assert load_settings(None)  # 8 characters pass


def test_redaction_replaces_a_secret_and_leaves_the_rest_of_the_line() -> None:
    from bot.log import REDACTED, Redactor

    redact = Redactor(["sk-abcdefgh"])
    assert redact("fox sk-abcdefgh box") == f"fox {REDACTED} box"


def test_the_example_env_file_loads_with_nothing_set(tmp_path: Path, monkeypatch) -> None:
    """A copy of .env.example as it is: blank values mean unset, not short secrets."""
    import shutil

    shutil.copy(Path(__file__).parent.parent / ".env.example", tmp_path / ".env")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert settings.discord.token is None and settings.telegram.token is None
    assert settings.providers.fal.api_key is None

"""The `framepack-bot` command as an operator runs it: real subprocesses."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from storage import SCHEMA_VERSION
from tests.support.subprocess_env import isolated_env

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "framepack-bot.example.toml"

SECRETS = {
    "DISCORD_TOKEN": "MTIzNDU2Nzg5.discord-secret.XyZ0123456789aBcDeF",
    "TELEGRAM_BOT_TOKEN": "123456789:telegram-secret-AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "FAL_KEY": "fal-secret-0f3c2b1a:9e8d7c6b5a4f3e2d1c0b",
    "WAVESPEED_API_KEY": "wavespeed-secret-5f4e3d2c1b0a99887766",
    "PIAPI_API_KEY": "piapi-secret-aabbccddeeff00112233",
    "LANNETECH_API_KEY": "lannetech-secret-ffeeddccbbaa99887766",
}


def cli(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    clean = isolated_env(tmp_path / "data", COLUMNS="200", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_doctor_on_the_example_config_masks_keys_and_shows_the_schema(tmp_path: Path) -> None:
    created = cli(tmp_path, "quota", "show", "--user", "discord:1")  # creates the database
    assert created.returncode == 0, created.stderr
    result = cli(tmp_path, "--config", str(EXAMPLE), "doctor", env=SECRETS)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"config file: {EXAMPLE}" in out
    assert f"schema version {SCHEMA_VERSION}, this release: {SCHEMA_VERSION}" in out
    assert "quota ledger: consistent" in out
    assert "fal        ready" in out and "key ****0b" not in out
    assert f"key ****{SECRETS['FAL_KEY'][-4:]}" in out
    assert f"token ****{SECRETS['DISCORD_TOKEN'][-4:]}" in out
    for secret in SECRETS.values():
        assert secret[:12] not in out + result.stderr


def test_doctor_before_the_database_exists_says_so(tmp_path: Path) -> None:
    result = cli(tmp_path, "doctor")
    # Nothing configured: no platform, and the default provider has no key. Not ready.
    assert result.returncode == 1
    assert "not created yet" in result.stdout
    assert "no key (set FAL_KEY)" in result.stdout
    assert "NOT READY: no chat platform is configured" in result.stdout
    assert "NOT READY: the default provider fal cannot take jobs" in result.stdout
    assert not (tmp_path / "data").exists()  # doctor changes nothing


def test_doctor_on_a_postgresql_store_names_it_without_its_password(
    tmp_path: Path, postgres_server
) -> None:
    url = (
        postgres_server.new_database().get_secret_value().replace("fpbot@", "fpbot:pg-secret-word@")
    )  # the test server trusts loopback: the password is only there to be hidden
    env = {"FPBOT_STORAGE__DATABASE": url, "TELEGRAM_BOT_TOKEN": "123456:telegram-test-token"}
    created = cli(tmp_path, "quota", "show", "--user", "discord:1", env=env)
    assert created.returncode == 0, created.stderr
    out = cli(tmp_path, "doctor", env=env).stdout
    where = f"postgresql://fpbot@127.0.0.1:{postgres_server.port}/"
    assert f"database: postgresql {where}" in out
    assert f"(schema version {SCHEMA_VERSION}, this release: {SCHEMA_VERSION})" in out
    assert "quota ledger: consistent" in out and "pg-secret-word" not in out
    assert not (tmp_path / "data" / "framepack-bot.sqlite3").exists()

    env["FPBOT_STORAGE__DATABASE"] = url.replace(str(postgres_server.port), "1")
    down = cli(tmp_path, "doctor", env=env)
    assert down.returncode == 1 and "Traceback" not in down.stdout + down.stderr
    assert (
        "database: cannot connect to PostgreSQL at postgresql://fpbot@127.0.0.1:1/" in down.stdout
    )
    assert "pg-secret-word" not in down.stdout + down.stderr


def test_doctor_is_healthy_with_a_platform_and_the_default_provider_ready(
    tmp_path: Path,
) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "123456:telegram-test-token", "FAL_KEY": "fal-test-key-0123"}
    result = cli(tmp_path, "doctor", env=env)
    assert result.returncode == 0, result.stdout
    assert "NOT READY" not in result.stdout
    assert "fal-test-key-0123" not in result.stdout  # masked


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["doctor"],
            {"FPBOT_QUOTAS__USER_DAILY_CREDITS": "-1"},
            "framepack-bot: invalid configuration: quotas.user_daily_credits: Input should be "
            "greater than or equal to 0",
        ),
        (
            ["--config", "missing.toml", "doctor"],
            {},
            "framepack-bot: config file not found: missing.toml",
        ),
        (
            ["run"],
            {"FPBOT_LOG_LEVEL": "LOUD"},
            "framepack-bot: invalid configuration: log_level: Input should be 'DEBUG', 'INFO', "
            "'WARNING' or 'ERROR'",
        ),
    ],
)
def test_bad_config_prints_one_line_and_exits_2(tmp_path, args, env, expected) -> None:
    result = cli(tmp_path, *args, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
    assert "Traceback" not in result.stdout + result.stderr


def test_run_without_a_platform_names_the_variables_and_exits_2(tmp_path: Path) -> None:
    result = cli(tmp_path, "run")
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr and "TELEGRAM_BOT_TOKEN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_secret_reaches_any_output_even_at_debug(tmp_path: Path) -> None:
    # Discord points at a closed loopback port: `run` fails to connect, offline.
    env = {
        **SECRETS,
        "FPBOT_LOG_LEVEL": "DEBUG",
        "FPBOT_DISCORD__API_BASE_URL": "http://127.0.0.1:9/api/v10",
        "FPBOT_DISCORD__GATEWAY_URL": "ws://127.0.0.1:9/gateway",
    }
    outputs = []
    for args in (
        ["run"],
        ["doctor"],
        ["quota", "show", "--user", "discord:5"],
        ["quota", "grant", "3", "--user", "discord:5"],
    ):
        result = cli(tmp_path, *args, env=env)
        outputs.append(result.stdout + result.stderr)
    joined = "\n".join(outputs)
    assert "cannot reach Discord at http://127.0.0.1:9/api/v10" in joined
    assert "DEBUG" in joined  # the run really logged at DEBUG
    for secret in SECRETS.values():
        assert secret not in joined
        assert secret[:12] not in joined


def test_quota_commands_round_trip_and_are_audited(tmp_path: Path) -> None:
    assert (
        cli(
            tmp_path, "quota", "set", "--user", "discord:42", "--daily", "10", "--concurrent", "3"
        ).returncode
        == 0
    )
    assert cli(tmp_path, "quota", "grant", "2.5", "--user", "discord:42").returncode == 0
    shown = cli(tmp_path, "quota", "show", "--user", "discord:42", "--guild", "discord:7")
    assert shown.returncode == 0, shown.stderr
    assert "overrides: daily 10, concurrent 3" in shown.stdout
    assert "Today: 12.5 of 12.5 credits left" in shown.stdout
    assert "Jobs running: 0 of 3" in shown.stdout
    assert "Server today: 600 of 600 credits left" in shown.stdout

    assert cli(tmp_path, "quota", "reset", "--user", "discord:42").returncode == 0
    assert (
        "Today: 10 of 10 credits left"
        in cli(tmp_path, "quota", "show", "--user", "discord:42").stdout
    )
    assert cli(tmp_path, "quota", "set", "--guild", "discord:7", "--daily", "50").returncode == 0
    assert (
        "today: 50 of 50 credits left"
        in cli(tmp_path, "quota", "show", "--guild", "discord:7").stdout
    )
    assert cli(tmp_path, "quota", "set", "--user", "discord:42", "--clear").returncode == 0
    assert "overrides" not in cli(tmp_path, "quota", "show", "--user", "discord:42").stdout

    with sqlite3.connect(tmp_path / "data" / "framepack-bot.sqlite3") as conn:
        actions = [row[0] for row in conn.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["quota.set", "quota.grant", "quota.reset", "quota.set", "quota.set"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["quota", "show", "--user", "1234"], "'1234' is not a subject"),
        (
            ["quota", "grant", "--user", "discord:1", "--", "-5"],
            "credits must be a non-negative number",
        ),
        (["quota", "grant", "0", "--user", "discord:1"], "grant more than 0 credits"),
        (["quota", "set", "--user", "discord:1"], "give --clear, or at least one of"),
        (["quota", "set", "--guild", "discord:1", "--monthly", "5"], "a guild has a daily budget"),
        (
            ["quota", "set", "--user", "discord:1", "--role", "discord:2", "--daily", "1"],
            "name exactly one of --user, --role, --guild",
        ),
        (["quota", "grant", "1.0001", "--user", "discord:1"], "at most three decimals"),
    ],
)
def test_bad_quota_input_exits_2_with_one_line(tmp_path: Path, args, expected) -> None:
    result = cli(tmp_path, *args)
    assert result.returncode == 2, result.stdout
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_quota_inside_one_guild_from_the_cli(tmp_path: Path) -> None:
    args = ["quota", "set", "--user", "discord:42", "--guild", "discord:7", "--daily", "10"]
    result = cli(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "user discord:42 in discord:7: limits updated"
    shown = cli(tmp_path, "quota", "show", "--user", "discord:42", "--guild", "discord:7")
    assert "Your allowance in this server today: 10 of 10 credits left" in shown.stdout
    elsewhere = cli(tmp_path, "quota", "show", "--user", "discord:42", "--guild", "discord:8")
    assert "allowance" not in elsewhere.stdout
    with sqlite3.connect(tmp_path / "data" / "framepack-bot.sqlite3") as conn:
        rows = list(conn.execute("SELECT actor, action, target FROM audit_log"))
    assert len(rows) == 1 and rows[0][0].startswith("cli:")
    assert rows[0][1:] == ("quota.set", "member:discord:7|discord:42")


def test_doctor_shows_each_lora_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "wave.safetensors").write_bytes(b"lora")
    config = tmp_path / "bot.toml"
    config.write_text(
        "[engine.loras]\n"
        f'wave = {{ path = "{tmp_path / "wave.safetensors"}", default_weight = 0.8 }}\n'
        f'glow = {{ path = "{tmp_path / "glow.safetensors"}" }}\n'
    )
    out = cli(tmp_path, "--config", str(config), "doctor").stdout
    assert f"lora wave: {tmp_path / 'wave.safetensors'} (found, default weight 0.8)" in out
    assert f"lora glow: {tmp_path / 'glow.safetensors'} (MISSING, default weight 1)" in out

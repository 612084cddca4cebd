"""The project's own promises: README and CI agree, lint is clean, the package ships
its migrations, the extras pin torch where the CPU wheel is, imports go one way."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [block.strip() for block in blocks]


def test_readme_opens_with_the_run_and_test_commands_and_ci_runs_the_latter() -> None:
    run_bot, run_tests = readme_commands()[:2]
    assert run_bot.endswith("framepack-bot run") and "pip install" in run_bot
    assert run_tests.endswith("pytest")
    ci_lines = [
        line
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert ci_lines[-1] == run_tests


def test_lint_and_format_are_clean() -> None:
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_types_check_clean() -> None:
    """mypy over bot/, providers/, storage/ and local_engine/ (pyproject's [tool.mypy])."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_extras_admit_the_cpu_torch_wheel_on_disk() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert {"local", "safety", "test"} <= set(extras)
    torch = next(Requirement(r) for r in extras["local"] if Requirement(r).name == "torch")
    assert "2.13.0" in torch.specifier
    assert "3.0" not in torch.specifier  # a resolver must never reach past the pin
    assert project["scripts"]["framepack-bot"] == "bot.cli:main"


def test_the_built_wheel_ships_the_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("framepack_bot-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    migrations = sorted(n for n in names if n.startswith("storage/migrations/"))
    shipped = sorted(  # both dialects
        p.relative_to(ROOT).as_posix() for p in (ROOT / "storage/migrations").rglob("*.sql")
    )
    assert migrations == shipped and len(shipped) >= 3
    assert any(name.startswith("storage/migrations/postgresql/") for name in migrations)
    assert not [n for n in names if n.startswith("tests/")]


# Who may import whom (DESIGN.md): bot -> providers, storage; providers -> local_engine;
# storage and local_engine -> nothing of ours.
OURS = {"bot", "providers", "local_engine", "storage"}
ALLOWED = {
    "bot": {"bot", "providers", "storage"},
    "providers": {"providers", "local_engine"},
    "local_engine": {"local_engine"},
    "storage": {"storage"},
}


@pytest.mark.parametrize("package", sorted(OURS))
def test_imports_follow_the_dependency_rule(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in OURS:
                    assert top in ALLOWED[package], f"{path.relative_to(ROOT)} imports {name}"


# Inside bot/: the core never imports an adapter, the CLI or a chat library; an adapter
# imports the core, the shared modules and its own platform library, never the other
# adapter, providers or storage.
SHARED = {"bot.config", "bot.log", "bot.clock", "bot.i18n", "bot.owner"}
BOT_ROOMS = {
    "core": ({"bot.core", *SHARED, "providers", "storage"}, {"discord", "telegram"}),
    "discord": ({"bot.core", "bot.discord", *SHARED}, {"telegram", "providers", "storage"}),
    "telegram": ({"bot.core", "bot.telegram", *SHARED}, {"discord", "providers", "storage"}),
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("room", sorted(BOT_ROOMS))
def test_the_rooms_of_bot_import_one_way(room: str) -> None:
    allowed, forbidden = BOT_ROOMS[room]
    for path in (ROOT / "bot" / room).rglob("*.py"):
        for name in _imports(path):
            where = f"{path.relative_to(ROOT)} imports {name}"
            assert name.split(".")[0] not in forbidden, where
            if name.startswith("bot"):
                assert any(name == a or name.startswith(a + ".") for a in allowed), where


def test_dockerfile_runs_unprivileged_with_a_data_volume() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in {"root", "0"}
    assert 'VOLUME ["/data"]' in text and "FPBOT_DATA_DIR=/data" in text
    assert 'ENTRYPOINT ["framepack-bot"]' in text and 'CMD ["run"]' in text


def test_the_gpu_image_runs_the_local_engine_unprivileged_from_mounted_weights() -> None:
    # No Docker engine on this machine: the build itself is the operators' to run.
    text = (ROOT / "Dockerfile.gpu").read_text()
    assert re.search(r"^FROM nvidia/cuda:\S+-runtime", text, re.M)
    assert re.search(r"pip install torch==2\.13\.0 --index-url \S+/whl/cu\d+", text)
    assert "'.[local,safety,pool]'" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in {"root", "0"}
    assert "FPBOT_PROVIDERS__LOCAL__ENABLED=true" in text
    for folder in ("BASE_MODEL_DIR", "TRANSFORMER_DIR", "IMAGE_ENCODER_DIR"):
        assert re.search(rf"FPBOT_ENGINE__{folder}=/models/\S+", text)
    assert "hf download" not in text and "huggingface-cli" not in text  # mounted, not fetched
    assert 'VOLUME ["/data"]' in text and 'ENTRYPOINT ["framepack-bot"]' in text


def test_the_compose_file_runs_the_bot_redis_append_only_and_gpu_workers() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "--appendonly yes" in services["redis"]["command"]
    bot = services["bot"]
    workers = {name: service for name, service in services.items() if name.startswith("worker")}
    assert len(workers) >= 2
    devices = []
    for worker in workers.values():
        assert worker["build"]["dockerfile"] == "Dockerfile.gpu"
        assert worker["command"][0] == "worker"
        for key in ("FPBOT_PROVIDERS__LOCAL__REDIS_URL", "FPBOT_PROVIDERS__LOCAL__SECRET"):
            assert bot["environment"][key] == worker["environment"][key]
        (gpu,) = worker["deploy"]["resources"]["reservations"]["devices"]
        assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]
        # Pinned: a `count` reservation gives every replica the same first GPU.
        assert "count" not in gpu
        devices += gpu["device_ids"]
        assert any(volume.endswith(":/models:ro") for volume in worker["volumes"])
    assert len(devices) == len(set(devices)) == len(workers)  # each its own GPU
    ids = [
        worker["command"][worker["command"].index("--worker-id") + 1] for worker in workers.values()
    ]
    assert len(set(ids)) == len(ids)
    assert "@redis:6379" in bot["environment"]["FPBOT_PROVIDERS__LOCAL__REDIS_URL"]
    assert bot["environment"]["FPBOT_PROVIDERS__DEFAULT_PROVIDER"] == "local"

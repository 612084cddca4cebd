"""The environment for a bot process a test starts: this one's, less any FPBOT_* or
conventional setting that leaks in from the developer's shell, plus what the test sets."""

from __future__ import annotations

import os
from pathlib import Path

from bot.config import CONVENTIONAL_ENV

ROOT = Path(__file__).resolve().parent.parent


def isolated_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FPBOT_") and k not in CONVENTIONAL_ENV
    }
    env.update({"PYTHONPATH": str(ROOT), "FPBOT_DATA_DIR": str(data_dir), **settings})
    return env

"""A real PostgreSQL server of the tests' own: `initdb` into a temporary folder and
`postgres` on a free loopback port, started once per test session; each test that
asks gets a database of its own on it (a fresh one, cheap to make from a template).

PostgreSQL refuses to run as root: as root (CI's containers), the server runs as the
`postgres` account that Debian's package creates. fsync is off: a test's database
need not survive a power cut, and every commit is then a memory write.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.support.redis_server import free_port

_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        (str(d / name) for d in _BIN_DIRS if (d / name).exists()), None
    )
    if found is None:  # .ci/run installs it; a developer machine may lack it
        pytest.fail(f"{name} is not installed (apt-get install postgresql)")
    return found


class PostgresServer:
    USER = "fpbot"

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="fpbot-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        subprocess.run(
            [
                *self._run_as,
                _binary("initdb"),
                "-D",
                str(self.data),
                "-U",
                self.USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self.process = subprocess.Popen(
            [
                *self._run_as,
                _binary("postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("postgres exited at start")
            if self._ready():
                return
            time.sleep(0.05)
        raise RuntimeError("postgres did not start")

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url(), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def new_database(self) -> SecretStr:
        """An empty database of its own: its URL."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return SecretStr(self.url(name))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

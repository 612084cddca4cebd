"""Logging: one format for every module, and configured secrets never reach a line."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote

REDACTED = "[redacted]"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# Libraries that log every request at INFO; their URLs may carry a bot token
# (Telegram's do), and the volume drowns ours.
_CHATTY = ("httpx", "httpcore", "aiosqlite", "discord.http", "discord.gateway", "telegram.ext")


class Redactor:
    """Replaces every configured secret, raw or URL-encoded, in a text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants = set()
        for secret in secrets:
            if secret:
                variants.update({secret, quote(secret, safe=""), quote(secret)})
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted(variants, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts the whole line, traceback included: a token can
    hide in a message, an argument, an exception or a URL, and the finished line is
    the one place that catches them all."""

    def converter(self, seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)  # timestamps in UTC

    def __init__(self, secrets: Iterable[str], fmt: str = FORMAT) -> None:
        super().__init__(fmt, datefmt="%Y-%m-%dT%H:%M:%SZ")
        self._redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


def setup_logging(level: str, secrets: Iterable[str], stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    if level != "DEBUG":
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)

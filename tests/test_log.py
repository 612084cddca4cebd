"""Log redaction: a secret never survives formatting, wherever it hides."""

from __future__ import annotations

import io
import logging
from urllib.parse import quote

from bot.log import REDACTED, setup_logging

# Shaped like a Telegram token, plus characters a URL must encode.
TOKEN = "123456:ABC-telegram/token+with=odd&chars"


def capture(secrets: list[str]) -> io.StringIO:
    stream = io.StringIO()
    setup_logging("DEBUG", secrets, stream=stream)
    return stream


def test_secret_in_message_args_exception_and_url_is_redacted() -> None:
    stream = capture([TOKEN])
    log = logging.getLogger("test.redaction")
    log.info("token is %s", TOKEN)
    log.warning(f"inline {TOKEN}")
    log.info("GET https://api.telegram.org/bot%s/getUpdates", quote(TOKEN, safe=""))
    try:
        raise RuntimeError(f"failed with {TOKEN}")
    except RuntimeError:
        log.exception("boom")
    logging.getLogger("httpx").warning(
        "url https://x/%s", "123456%3AABC-telegram%2Ftoken%2Bwith%3Dodd%26chars"
    )
    text = stream.getvalue()
    assert TOKEN not in text
    assert "ABC-telegram" not in text
    assert text.count(REDACTED) == 5
    assert "Traceback" in text  # the traceback itself is kept, minus the secret


def test_one_line_format_in_utc() -> None:
    stream = capture([])
    logging.getLogger("bot.test").info("hello")
    line = stream.getvalue().strip()
    assert line.endswith("INFO    bot.test: hello")
    assert line[:20].endswith("Z") and line[10] == "T"

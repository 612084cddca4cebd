"""`framepack-bot generate` never prints a traceback, whatever the image bytes and
options: any input ends in exit 0, 1 (provider failure) or 2 (bad input) with one
line on stderr. Bounded: the provider is a loopback server that refuses every key at
once, so an input good enough to be sent costs one round trip."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app


class Refusing(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b'{"detail": "Invalid API key"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def refusing_provider() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


IMAGES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([_png((128, 72)), _png((64, 64)), _png((1, 1)), b"", b"\x89PNG\r\n"]),
    st.builds(lambda data, cut: data[:cut], st.just(_png((200, 100))), st.integers(0, 400)),
)
WORDS = st.one_of(st.text(max_size=12), st.sampled_from(["480p", "720p", "16:9", "auto", "1e9"]))
NUMBERS = st.one_of(
    st.integers(-(10**12), 10**12).map(str), st.floats().map(str), st.text(max_size=6)
)
OPTIONS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["--resolution", "--aspect-ratio", "--model"]), WORDS),
        st.tuples(
            st.sampled_from(
                ["--duration", "--num-frames", "--seed", "--steps", "--guidance", "--strength"]
            ),
            NUMBERS,
        ),
        st.tuples(st.sampled_from(["--negative-prompt", "--provider"]), WORDS),
    ),
    max_size=4,
)


def test_generate_never_prints_a_traceback(refusing_provider, tmp_path_factory) -> None:
    runner = CliRunner()
    exit_codes: set[int] = set()
    env = {
        "FAL_KEY": "sk-fuzz-0123456789",
        "FPBOT_PROVIDERS__FAL__BASE_URL": refusing_provider,
        "FPBOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
    }

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(image=IMAGES, prompt=st.text(max_size=600), options=OPTIONS, last=st.booleans())
    # One input that reaches the provider for sure: random ones do in about one case in
    # thirty, so 120 of them missed it now and then and the last assertion went red.
    @example(image=_png((128, 72)), prompt="a fox turns its head", options=[], last=False)
    def check(image: bytes, prompt: str, options: list[tuple[str, str]], last: bool) -> None:
        folder = Path(tmp_path_factory.mktemp("in"))
        (folder / "first.png").write_bytes(image)
        args = ["generate", "--provider", "fal", "--image", str(folder / "first.png")]
        args += ["--prompt", prompt, "-o", str(folder / "out.mp4")]
        if last:
            args += ["--last-image", str(folder / "first.png")]
        for name, value in options:
            args += [name, value]
        result = runner.invoke(app, args, env=env)
        output = result.stdout + result.stderr
        assert "Traceback" not in output, output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        ), repr(result.exception)
        assert result.exit_code in (0, 1, 2), (result.exit_code, output)
        exit_codes.add(result.exit_code)

    check()
    assert {1, 2} <= exit_codes  # inputs were refused, and some reached the provider

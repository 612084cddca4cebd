"""No outbound connection but the configured ones: the bot runs a job with NudeNet
(and so onnxruntime) loaded, traced by strace well past the ~10 s after which
onnxruntime would phone home; every connection and datagram must go to loopback (the
configured fakes), and no name may be looked up (no DNS, no nscd)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from pathlib import Path

from tests.support.provider_world import API_KEY, FAKES
from tests.support.subprocess_env import ROOT, isolated_env

LINGER_S = 14.0  # onnxruntime's telemetry goes out about 10 s after the import
INET = re.compile(
    r"sa_family=AF_INET6?, sin6?_port=htons\((\d+)\)"
    r".*?(?:inet_addr|inet_pton)\((?:AF_INET6?, )?\"([^\"]+)\""
)


def outside_loopback(trace: str) -> list[str]:
    bad = []
    for line in trace.splitlines():
        if not re.search(r"\b(connect|sendto|sendmsg)\(", line):
            continue
        if "nscd" in line:
            bad.append(line)  # glibc asking the name-service cache: a lookup
            continue
        for port, address in INET.findall(line):
            loopback = address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1")
            if port == "53" or not loopback:
                bad.append(line)
    return bad


async def test_a_job_with_nudenet_loaded_connects_to_nothing_but_the_configured(
    tmp_path: Path,
) -> None:
    strace = shutil.which("strace")
    assert strace, "this test needs strace (apt-get install strace; .ci/run installs it)"
    log = tmp_path / "trace.txt"
    async with FAKES["fal"](API_KEY, queue_polls=1, running_polls=1) as fal:
        env = isolated_env(
            tmp_path / "data",
            FAL_KEY=API_KEY,
            FPBOT_PROVIDERS__FAL__BASE_URL=fal.base_url,
            FPBOT_PROVIDERS__FAL__POLL_INTERVAL="0.5",
            FPBOT_PROVIDERS__FAL__MAX_POLL_INTERVAL="0.5",
        )
        env.pop("ORT_DISABLE_TELEMETRY", None)  # the bot must set it, not the test
        process = await asyncio.create_subprocess_exec(
            strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(log),
            sys.executable, "-m", "tests.support.helpers.outbound_probe", str(LINGER_S),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err.decode()[-2000:]
    assert b"job delivered" in out
    trace = log.read_text()
    assert "127.0.0.1" in trace  # the trace saw the job's own connections
    assert outside_loopback(trace) == []


async def test_a_gpu_worker_connects_to_nothing_but_its_redis(tmp_path: Path, redis_server) -> None:
    """The worker builds its pipeline (diffusers imports onnxruntime while it does),
    then serves, traced well past onnxruntime's telemetry delay."""
    from coredis import Redis

    from providers.pool.redis import Keys
    from tests.support import tiny_framepack as tiny
    from tests.support.pool import SECRET
    from tests.support.tiny_framepack import engine_env

    strace = shutil.which("strace")
    assert strace, "this test needs strace (apt-get install strace; .ci/run installs it)"
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    env = isolated_env(
        tmp_path / "worker",
        **engine_env(folders),
        FPBOT_PROVIDERS__LOCAL__REDIS_URL=redis_server.url,
        FPBOT_PROVIDERS__LOCAL__SECRET=SECRET,
    )
    env.pop("ORT_DISABLE_TELEMETRY", None)  # the worker must set it, not the test
    log = tmp_path / "trace.txt"
    process = await asyncio.create_subprocess_exec(
        strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(log),
        sys.executable, "-m", "bot", "worker", "--worker-id", "traced",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # strace and the worker: stopped together, below
    )  # fmt: skip
    serving = False
    try:
        async with (
            Redis.from_url(redis_server.url, decode_responses=True) as redis,
            asyncio.timeout(240),  # strace slows the imports several times over
        ):
            while await redis.zscore(Keys("framepack").workers, "traced") is None:
                await asyncio.sleep(0.2)
                if process.returncode is not None:
                    break
        serving = process.returncode is None
        await asyncio.sleep(LINGER_S)  # the engine (and onnxruntime) loaded before this
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert serving, err.decode()[-3000:]
    trace = log.read_text()
    assert f"htons({redis_server.port})" in trace, err.decode()[-2000:]  # it saw Redis
    assert outside_loopback(trace) == []


async def test_generate_with_the_local_engine_connects_to_nothing(tmp_path: Path) -> None:
    """`generate --provider local` builds a pipeline (diffusers imports onnxruntime
    then) and renders for longer than onnxruntime's telemetry delay: traced, it must
    make no connection and look up no name at all."""
    from PIL import Image

    from tests.support import tiny_framepack as tiny
    from tests.support.tiny_framepack import engine_env

    strace = shutil.which("strace")
    assert strace, "this test needs strace (apt-get install strace; .ci/run installs it)"
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    image = tmp_path / "in.png"
    Image.new("RGB", (160, 90), (40, 120, 200)).save(image)
    env = isolated_env(
        tmp_path / "data",
        **{**engine_env(folders), "FPBOT_ENGINE__BUCKETS": '{"480p": 128, "720p": 192}'},
    )
    env.pop("ORT_DISABLE_TELEMETRY", None)  # the command must set it, not the test
    log = tmp_path / "trace.txt"
    started = asyncio.get_running_loop().time()
    process = await asyncio.create_subprocess_exec(
        strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(log),
        sys.executable, "-m", "bot", "generate", "--provider", "local",
        "--image", str(image), "--prompt", "the sea", "--num-frames", "90", "--steps", "6",
        "--output", str(tmp_path / "out.mp4"),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode == 0, err.decode()[-2000:]
    # It lived past the delay (the render alone takes longer than LINGER_S here).
    assert asyncio.get_running_loop().time() - started > LINGER_S, out.decode()
    assert outside_loopback(log.read_text()) == []

"""No outbound connection but the configured ones: the bot runs a job with NudeNet
(and so onnxruntime) loaded, traced by strace well past the ~10 s after which
onnxruntime would phone home; every connection and datagram must go to loopback (the
configured fakes), and no name may be looked up (no DNS, no nscd)."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

from tests.provider_world import API_KEY, FAKES
from tests.subprocess_env import ROOT, isolated_env

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
            sys.executable, "-m", "tests.helpers.outbound_probe", str(LINGER_S),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err.decode()[-2000:]
    assert b"job delivered" in out
    trace = log.read_text()
    assert "127.0.0.1" in trace  # the trace saw the job's own connections
    assert outside_loopback(trace) == []

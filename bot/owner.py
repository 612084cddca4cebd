"""Who this process is, to the leases it holds in the store (the Telegram poller's,
its jobs'): host, pid and a nonce — readable in a refusal, unique per start, and
telling a restart on the same machine that the holder before it is gone."""

from __future__ import annotations

import os
import secrets
import socket


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def gone(owner: str) -> bool:
    """Whether `owner` was a process of this machine that has ended (a killed or
    crashed one: its leases need not run out before another takes them)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False

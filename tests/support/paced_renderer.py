"""An engine stand-in for the queue's contract tests: the same `generate` call as
local_engine's FramePackEngine, with steps of a fixed length that honour the cancel
flag and report progress, writing a real (small) MP4. It records what it ran, so a test
can tell which jobs ran, in which order, and how many steps ran after a cancel.

The queue is what those tests are about; the real engine runs through the queue in
tests/test_pool_redis.py and tests/test_local_provider.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from local_engine.encode import write_mp4
from local_engine.engine import Cancelled, EngineRefused, EngineRequest, Progress


@dataclass
class PacedRenderer:
    step_s: float = 0.02
    runs: list[str] = field(default_factory=list)  # prompts, in the order they started
    last_step: dict[str, int] = field(default_factory=dict)  # per prompt
    gate: threading.Event = field(default_factory=threading.Event)  # set: jobs may run

    def __post_init__(self) -> None:
        self.gate.set()

    def generate(
        self,
        request: EngineRequest,
        out: Path,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        keep: threading.Event | None = None,
    ) -> Path:
        self.runs.append(request.prompt)
        if request.prompt.startswith("refuse"):
            raise EngineRefused("this engine does not do that")
        if request.prompt.startswith("crash"):
            raise RuntimeError("CUDA error: an illegal memory access")
        while not self.gate.wait(0.01):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
        total = request.steps
        made = 0  # frames finished, as sections of 2 steps and 4 frames
        for step in range(1, total + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            if keep is not None and keep.is_set() and made:
                return self._mp4(request, made, out)
            time.sleep(self.step_s)
            self.last_step[request.prompt] = step
            made = 4 * (step // 2)
            if on_progress is not None:
                on_progress(Progress(step, total, (step - 1) // 2, -(-total // 2), None, made))
        return self._mp4(request, 4 * -(-total // 2), out)

    @staticmethod
    def _mp4(request: EngineRequest, frames: int, out: Path) -> Path:
        video = np.full((frames, 32, 32, 3), request.seed % 255, dtype=np.uint8)
        return write_mp4(video, out, fps=30)

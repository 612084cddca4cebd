"""LoRAs the operator installed, on diffusers' FramePack pipeline: each file is loaded
once per pipeline (`load_lora_weights`, at the first job that asks for it) and jobs
switch between sets with `set_adapters` (or `disable_lora` for none); a job with the
same set as the one before changes nothing. The base weights are never reloaded."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_engine.request import EngineRefused


class Loras:
    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = dict(files)
        self.loads = 0  # load_lora_weights calls: a test counts them
        self._loaded: dict[int, set[str]] = {}  # per pipeline (FramePack, F1)
        self._active: dict[int, tuple[tuple[str, float], ...]] = {}

    def check(self, wanted: tuple[tuple[str, float], ...]) -> None:
        missing = [name for name, _ in wanted if name not in self.files]
        if missing:
            raise EngineRefused(f"no LoRA named {', '.join(missing)} is installed here")
        gone = [str(self.files[name]) for name, _ in wanted if not self.files[name].is_file()]
        if gone:
            raise EngineRefused(f"the LoRA file {', '.join(gone)} is missing on this machine")

    def use(self, pipe: Any, wanted: tuple[tuple[str, float], ...]) -> None:
        """Make `wanted` (names and weights) the pipeline's LoRAs for the next call."""
        key = id(pipe)
        if self._active.get(key, ()) == wanted:
            return
        loaded = self._loaded.setdefault(key, set())
        for name, _ in wanted:
            if name not in loaded:
                with warnings.catch_warnings():
                    # PEFT warns that a second adapter makes several: that is the point.
                    warnings.filterwarnings("ignore", "Already found a `peft_config`")
                    pipe.load_lora_weights(str(self.files[name]), adapter_name=name)
                loaded.add(name)
                self.loads += 1
        if wanted:
            pipe.enable_lora()
            pipe.set_adapters([name for name, _ in wanted], [weight for _, weight in wanted])
        elif loaded:
            pipe.disable_lora()
        self._active[key] = wanted

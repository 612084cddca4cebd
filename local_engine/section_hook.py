"""A forward pre-hook on the transformer for one pipeline call that changes what each
section's steps are given (local_engine.sections, local_engine.continuation).

diffusers' FramePack pipeline calls the transformer once per step (true CFG is off: the
engine never sets `true_cfg_scale`, FramePack's guidance is distilled), so the calls
count the steps, and `steps` calls make a section, in sampling order."""

from __future__ import annotations

from typing import Any


class SectionHook:
    def __init__(self, transformer: Any, steps: int) -> None:
        self.transformer = transformer
        self.steps = steps
        self.calls = 0

    def __enter__(self) -> SectionHook:
        self._handle = self.transformer.register_forward_pre_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def _hook(
        self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        section = self.calls // self.steps
        self.calls += 1
        return args, self.given(section, kwargs)

    def given(self, section: int, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The transformer's keyword arguments for a step of `section` (0: sampled first)."""
        raise NotImplementedError

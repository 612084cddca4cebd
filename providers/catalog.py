"""The providers x models table in the README, made from the capabilities each client
in the registry declares (what its provider documents). `python -m providers.catalog` prints it;
tests/test_provider_documents.py fails when the README's copy differs."""

from __future__ import annotations

from providers import PROVIDERS
from providers.contract import Capabilities, Mode, ModelSpec, plain_number

BEGIN = "<!-- providers-table: made by `python -m providers.catalog` -->"
END = "<!-- /providers-table -->"
MODES = {Mode.IMAGE_TO_VIDEO: "image", Mode.FIRST_LAST_FRAME: "first+last"}


def _bounds(bounds: tuple[float, float] | None) -> str:
    if bounds is None:
        return "—"
    return " to ".join(plain_number(bound) for bound in bounds)


def _row(provider: str, model: str, spec: ModelSpec) -> str:
    low, high = spec.length.seconds_range
    length = f"{low:.3g} to {high:.3g} s"
    if spec.length.unit == "seconds":
        length += " (whole)"
    elif spec.length.fps != 30:
        length += f" ({spec.length.fps} fps)"
    cells = [
        provider,
        model,
        ", ".join(MODES[mode] for mode in spec.endpoint),
        length,
        f"{spec.default_seconds:g} s",
        ", ".join(spec.resolutions),
        ", ".join(spec.aspect_ratios) or "the image's",
        _bounds(spec.steps),
        _bounds(spec.guidance) + (" (whole)" if spec.whole_scales and spec.guidance else ""),
        _bounds(spec.seed),
    ]
    return "| " + " | ".join(cells) + " |"


def table() -> str:
    # Lazily: providers.local is imported only by whoever enables the local engine.
    from providers.local import CAPABILITIES as LOCAL

    providers: list[tuple[str, Capabilities]] = [
        (name, client.capabilities) for name, client in PROVIDERS.items()
    ]
    providers.append(("local", LOCAL))
    lines = [
        "| provider | model | jobs | length | default | resolution | aspect | steps "
        "| guidance | seed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, capabilities in providers:
        lines += [_row(name, model.value, spec) for model, spec in capabilities.models.items()]
    return "\n".join([BEGIN, *lines, END])


if __name__ == "__main__":
    print(table())

"""Safety checks: the prompt against a deny-list, images and sampled output frames
against NudeNet, and the providers' own signals (handled where they arrive).

Which check stopped a job is reported (never the offending words); the caller refunds
and writes the audit row.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from bot.core.text import clean_prompt

log = logging.getLogger(__name__)

LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
# n.u.d.e, n-u-d-e, n_u_d_e, n*u*d*e: one separator repeated between single letters
# vanishes. (Not spaces: "a b c" is too often just letters.)
_SPELLED_OUT = re.compile(r"\b[a-z]([.\-_*+~])(?:[a-z]\1)+[a-z]\b")

# NudeNet labels that block; the covered and face labels never do.
BLOCKING_LABELS = frozenset(
    {
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_EXPOSED",
        "BUTTOCKS_EXPOSED",
    }
)


@dataclass(frozen=True)
class Verdict:
    """A block: `check` names the check for the user, `detail` is for the audit log."""

    check: str  # "prompt", "image", "last frame", "output video"
    detail: str
    always: bool = False  # blocked even with the checker off


def _confusable_table() -> dict[int, str]:
    """Each non-ASCII character that Unicode's confusables data says looks like an ASCII
    letter or digit (Cyrillic е, Greek ο, mathematical 𝐧, ...), mapped to it. The data
    is confusable-homoglyphs' copy of the Unicode table: kept up to date there, not
    hand-written here."""
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[int, str] = {}
    for char, glyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        looks_like = [
            g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalnum()
        ]
        letters = [c for c in looks_like if c.isalpha()]
        if looks_like:
            table[ord(char)] = (letters or looks_like)[0]
    return table


CONFUSABLES = _confusable_table()


def normalise(text: str) -> list[str]:
    """Lower-case ASCII tokens with invisible characters dropped, look-alike letters of
    other scripts folded, and accents, leetspeak and spelled-out words undone."""
    text = clean_prompt(text).translate(CONFUSABLES)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().translate(LEET)
    text = _SPELLED_OUT.sub(lambda m: re.sub(r"[^a-z]", "", m.group(0)), text)
    return re.findall(r"[a-z]+", text)


@dataclass(frozen=True)
class DenyList:
    categories: dict[str, frozenset[tuple[str, ...]]]

    @classmethod
    def load(cls, extra_terms: Path | None = None) -> DenyList:
        text = (resources.files("bot.core") / "data" / "deny_list.txt").read_text("utf-8")
        categories = _parse(text)
        if extra_terms is not None:
            extra = _parse("[explicit]\n" + extra_terms.read_text("utf-8"))
            categories["explicit"] = categories["explicit"] | extra["explicit"]
        return cls({name: frozenset(terms) for name, terms in categories.items()})

    def matches(self, text: str) -> set[str]:
        """The categories whose terms occur in the text."""
        tokens = normalise(text)
        found = set()
        for category, terms in self.categories.items():
            if any(_contains(tokens, term) for term in terms):
                found.add(category)
        return found


def _parse(text: str) -> dict[str, frozenset[tuple[str, ...]]]:
    categories: dict[str, set[tuple[str, ...]]] = {
        "explicit": set(),
        "suggestive": set(),
        "minors": set(),
    }
    current = "explicit"
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([a-z]+)\]", line)
        if header:
            current = header.group(1)
            categories.setdefault(current, set())
            continue
        categories[current].add(tuple(normalise(line)))
    return {name: frozenset(terms) for name, terms in categories.items()}


def _contains(tokens: Sequence[str], term: tuple[str, ...]) -> bool:
    """Whole-word match of a one- or many-word term; a plural 's'/'es' also matches."""
    if not term:
        return False
    size = len(term)
    for i in range(len(tokens) - size + 1):
        window = tokens[i : i + size]
        if window[:-1] == list(term[:-1]) and window[-1] in (
            term[-1],
            term[-1] + "s",
            term[-1] + "es",
        ):
            return True
    return False


@dataclass(frozen=True)
class Detection:
    label: str
    score: float


class NudityDetector(Protocol):
    def detect(self, image: Image.Image) -> list[Detection]: ...


class NudeNetDetector:
    """NudeNet's ONNX detector (shipped in its wheel: no download), run through its own
    pre-processing and model, with its post-processing vectorised: NudeNet's is a
    Python loop over ~2,100 candidate boxes that holds the GIL ~50 ms an image, which
    stalls the event loop even from a worker thread. onnxruntime gets half the cores at
    most, so a burst of checks never takes every core from the bot. Always fed arrays,
    never paths: NudeNet's thresholds differ between the two input routes."""

    def __init__(self, threads: int | None = None) -> None:
        # onnxruntime contacts a telemetry host about 10 s after import unless this is
        # set first; nobody here asked for that connection.
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime
        from nudenet import nudenet as engine  # the `safety` extra

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or max(1, (os.cpu_count() or 2) // 2)
        options.inter_op_num_threads = 1
        self._engine = engine
        self._session = onnxruntime.InferenceSession(
            str(Path(engine.__file__).with_name("320n.onnx")),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._input = self._session.get_inputs()[0].name
        self._labels: list[str] = vars(engine)["__labels"]

    def detect(self, image: Image.Image) -> list[Detection]:
        import numpy as np

        bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()  # NudeNet reads BGR
        blob, _, _, x_pad, y_pad, width, height = self._engine._read_image(bgr, MODEL_SIZE)
        output = self._session.run(None, {self._input: blob})[0]
        return [
            Detection(self._labels[class_id], score)
            for class_id, score, _ in postprocess(output, x_pad, y_pad, width, height)
        ]


MODEL_SIZE = 320  # NudeNet's 320n model


def postprocess(
    output: Any, x_pad: int, y_pad: int, width: int, height: int, size: int = MODEL_SIZE
) -> list[tuple[int, float, list[int]]]:
    """NudeNet's `_postprocess`, vectorised with numpy, same arithmetic in the same
    order (float32 throughout): (class id, score, [x, y, w, h]) per kept box."""
    import cv2
    import numpy as np

    rows = np.transpose(np.squeeze(output))  # one row per candidate: x, y, w, h, scores...
    class_scores = rows[:, 4:]
    best = class_scores.max(axis=1)
    keep = best >= 0.2
    rows, best = rows[keep], best[keep]
    class_ids = class_scores[keep].argmax(axis=1)
    w, h = rows[:, 2], rows[:, 3]
    x = rows[:, 0] - w / 2
    y = rows[:, 1] - h / 2
    x = x * (width + x_pad) / size
    y = y * (height + y_pad) / size
    w = w * (width + x_pad) / size
    h = h * (height + y_pad) / size
    x = np.maximum(0, np.minimum(x, width))
    y = np.maximum(0, np.minimum(y, height))
    w = np.minimum(w, width - x)
    h = np.minimum(h, height - y)
    boxes = np.stack([x, y, w, h], axis=1)
    kept = cv2.dnn.NMSBoxes(boxes.tolist(), best.tolist(), 0.25, 0.45)
    return [(int(class_ids[i]), float(best[i]), [int(v) for v in boxes[i]]) for i in kept]


def default_detector() -> NudityDetector | None:
    """NudeNet when the `safety` extra is installed, else None (image checks off)."""
    try:
        return NudeNetDetector()
    except ImportError:
        log.warning(
            "NudeNet is not installed (pip install 'framepack-bot[safety]'): "
            "images and output videos will NOT be checked"
        )
        return None


class SafetyChecker:
    def __init__(
        self, deny_list: DenyList, detector: NudityDetector | None, threshold: float
    ) -> None:
        self.deny_list = deny_list
        self.detector = detector
        self.threshold = threshold

    def check_prompt(self, *texts: str, enabled: bool) -> Verdict | None:
        found = set()
        for text in texts:
            found |= self.deny_list.matches(text)
        if "minors" in found and found & {"explicit", "suggestive"}:
            return Verdict("prompt", "minors combined with sexual terms", always=True)
        if enabled and "explicit" in found:
            return Verdict("prompt", "explicit terms")
        return None

    def check_images(
        self, images: Iterable[Image.Image], *, what: str, enabled: bool
    ) -> Verdict | None:
        """Blocking (ONNX inference): run in a thread."""
        if not enabled or self.detector is None:
            return None
        for image in images:
            hits = [
                d
                for d in self.detector.detect(image)
                if d.label in BLOCKING_LABELS and d.score >= self.threshold
            ]
            if hits:
                worst = max(hits, key=lambda d: d.score)
                return Verdict(what, f"{worst.label} {worst.score:.2f}")
        return None

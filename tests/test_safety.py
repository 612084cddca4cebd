"""Safety: the prompt deny-list's matching rules, and image checks through NudeNet."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bot.core.safety import (
    DenyList,
    Detection,
    NudeNetDetector,
    SafetyChecker,
    normalise,
)

DENY = DenyList.load()


class MarkerDetector:
    """A stand-in for the model where a test needs a positive: it 'detects' exposed
    skin in images whose top-left pixel is pure magenta, so no explicit picture has to
    live in the test suite. The real NudeNet is exercised in the tests below."""

    def detect(self, image: Image.Image) -> list[Detection]:
        if image.convert("RGB").getpixel((0, 0)) == (255, 0, 255):
            return [Detection("FEMALE_BREAST_EXPOSED", 0.91), Detection("FACE_FEMALE", 0.99)]
        return [Detection("FACE_FEMALE", 0.99)]


@pytest.mark.parametrize(
    "prompt",
    [
        "NUDE portrait",
        "a n.u.d.e figure",
        "n4k3d on the beach",
        "Nüdé",
        "p0rn",
        "two nudes",
        "she starts to undress",
        "NSFW please",
    ],
)
def test_explicit_terms_are_found_through_disguises(prompt: str) -> None:
    assert "explicit" in DENY.matches(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "a sunset over the sea",
        "the snake slithers",
        "Essex countryside",
        "a scrapbook page",
        "sextant on a ship's deck",
        "the class applauds",
        "basket of kittens",
        "a 5 second pan",
        "he strips the paint off a wall",
    ],
)
def test_innocent_prompts_pass(prompt: str) -> None:
    checker = SafetyChecker(DENY, None, 0.6)
    assert checker.check_prompt(prompt, enabled=True) is None, DENY.matches(prompt)


def test_normalise_undoes_leetspeak_accents_and_spacing() -> None:
    assert normalise("Caf\u00e9 N-U-D-3 @ 5unset!") == ["cafe", "nude", "a", "sunset"]


def test_minors_with_sexual_terms_block_even_with_the_checker_off() -> None:
    checker = SafetyChecker(DENY, None, 0.6)
    verdict = checker.check_prompt("a young girl in a bikini", enabled=False)
    assert verdict is not None and verdict.always and verdict.check == "prompt"
    assert checker.check_prompt("a naked man", enabled=False) is None  # admin allowed it
    assert checker.check_prompt("a naked man", enabled=True).check == "prompt"
    assert checker.check_prompt("a child flies a kite", enabled=True) is None
    # The negative prompt counts too.
    assert checker.check_prompt("kids at the beach", "nude", enabled=False).always


def test_operator_terms_extend_the_list(tmp_path: Path) -> None:
    extra = tmp_path / "terms.txt"
    extra.write_text("# ours\nbanana split\nwaluigi\n")
    deny = DenyList.load(extra)
    assert "explicit" in deny.matches("Waluigis dancing") | deny.matches("a banana split")
    assert deny.matches("a banana") == set()


def test_image_check_blocks_only_blocking_labels_over_the_threshold() -> None:
    checker = SafetyChecker(DENY, MarkerDetector(), threshold=0.6)
    flagged = Image.new("RGB", (64, 64), (255, 0, 255))
    plain = Image.new("RGB", (64, 64), (0, 128, 0))
    verdict = checker.check_images([plain, flagged], what="output video", enabled=True)
    assert verdict.check == "output video" and "FEMALE_BREAST_EXPOSED 0.91" in verdict.detail
    assert checker.check_images([plain], what="image", enabled=True) is None
    assert checker.check_images([flagged], what="image", enabled=False) is None
    strict = SafetyChecker(DENY, MarkerDetector(), threshold=0.95)
    assert strict.check_images([flagged], what="image", enabled=True) is None


def test_the_real_nudenet_passes_ordinary_images() -> None:
    detector = NudeNetDetector()
    checker = SafetyChecker(DENY, detector, 0.6)
    images = [
        Image.new("RGB", (320, 240), (40, 90, 160)),
        Image.radial_gradient("L").convert("RGB").resize((300, 300)),
    ]
    assert checker.check_images(images, what="image", enabled=True) is None
    assert all(isinstance(d, Detection) for d in detector.detect(images[1]))


def test_the_vectorised_post_processing_gives_nudenets_own_answers() -> None:
    """Our NudeNet post-processing (vectorised, to keep the GIL free) against NudeNet's
    own loop, on model outputs with many boxes over the threshold and overlapping."""
    import numpy as np
    from nudenet import nudenet as engine

    from bot.core.safety import postprocess

    labels = vars(engine)["__labels"]
    rng = np.random.default_rng(7)
    compared = 0
    for width, height in ((640, 480), (480, 853), (320, 320), (1000, 200)):
        for _ in range(10):
            output = np.zeros((1, 4 + len(labels), 2100), dtype=np.float32)
            output[0, 0:2] = rng.uniform(0, 320, (2, 2100))
            output[0, 2:4] = rng.uniform(4, 160, (2, 2100))
            output[0, 4:] = rng.beta(0.3, 3, (len(labels), 2100))
            x_pad, y_pad = max(width, height) - width, max(width, height) - height
            theirs = engine._postprocess([output], x_pad, y_pad, 1, 1, width, height, 320, 320)
            ours = postprocess(output, x_pad, y_pad, width, height)
            assert [(labels[c], s, b) for c, s, b in ours] == [
                (d["class"], d["score"], d["box"]) for d in theirs
            ]
            compared += len(theirs)
    assert compared > 100  # the comparison saw plenty of kept boxes


def test_the_detector_agrees_with_nudenets_detect_on_real_images() -> None:
    import numpy as np
    from nudenet import NudeDetector
    from PIL import ImageDraw

    from bot.core.safety import NudeNetDetector

    ours, theirs = NudeNetDetector(), NudeDetector()
    for seed in range(4):
        image = Image.effect_noise((512, 384), 40 + 20 * seed).convert("RGB")
        draw = ImageDraw.Draw(image)
        draw.ellipse((100, 60, 300, 300), fill=(224, 172, 140))  # a skin-toned shape
        bgr = np.asarray(image)[:, :, ::-1].copy()
        expected = [(d["class"], float(d["score"])) for d in theirs.detect(bgr)]
        assert [(d.label, d.score) for d in ours.detect(image)] == expected

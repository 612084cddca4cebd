"""What diffusers' FramePack pipeline does on the pinned version, where the engine
depends on it (DESIGN.md lists these; a diffusers upgrade that changes one fails here,
and the engine's way round it is then to be looked at again)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support import tiny_framepack as tiny

IMAGE = Image.new("RGB", (48, 80), (200, 60, 40))


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory):
    pipe = tiny.pipeline(tmp_path_factory.mktemp("tiny"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe, **options) -> np.ndarray:
    arguments = dict(
        image=IMAGE,
        prompt="waves",
        height=48,
        width=80,
        num_frames=25,  # 3 sections of the tiny window
        latent_window_size=tiny.WINDOW,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(7),
        prompt_template=tiny.PROMPT_TEMPLATE,
        output_type="np",
    )
    return np.asarray(pipe(**{**arguments, **options}).frames[0])


def test_only_the_inverted_sampler_takes_a_last_image(pipe) -> None:
    with pytest.raises(ValueError, match="inverted_anti_drifting"):
        run(pipe, last_image=IMAGE, sampling_type="vanilla")


def test_the_last_images_embedding_is_not_what_the_transformer_gets(pipe) -> None:
    """Hence a loop or an end frame steers through the latents only."""
    seen: list[torch.Tensor] = []

    def record(module, args, kwargs):
        seen.append(kwargs["image_embeds"])

    handle = pipe.transformer.register_forward_pre_hook(record, with_kwargs=True)
    try:
        run(pipe)
        plain = seen[:]
        seen.clear()
        run(pipe, last_image=Image.new("RGB", (48, 80), (20, 60, 220)))
    finally:
        handle.remove()
    assert all(torch.equal(a, b) for a, b in zip(plain, seen, strict=True))


def test_the_step_index_restarts_in_every_section(pipe) -> None:
    """Hence the engine counts its callbacks for progress (and the section prompts the
    transformer's calls), never the step index."""
    indexes: list[int] = []

    def step_end(pipe_, i, t, kwargs):
        indexes.append(i)
        return kwargs

    run(pipe, callback_on_step_end=step_end)
    assert indexes == [0, 1, 0, 1, 0, 1]


def test_the_interrupt_flag_still_decodes_every_section(pipe) -> None:
    """Hence the engine cancels by raising from the callback."""
    decodes = []
    handle = pipe.vae.decoder.register_forward_hook(lambda *a: decodes.append(1))

    def interrupt(pipe_, i, t, kwargs):
        pipe_._interrupt = True
        return kwargs

    try:
        run(pipe, callback_on_step_end=interrupt)
    finally:
        handle.remove()
        pipe._interrupt = False
    assert len(decodes) >= 3  # one per section (or more, tiled), stopped or not

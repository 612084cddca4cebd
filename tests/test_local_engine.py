"""The local FramePack engine on CPU with a tiny random pipeline: buckets, sections and
trimming, seeds, first+last frame, F1, progress, cancel within a step, the MP4, and the
real loading path from the operators' folder layout."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from local_engine.buckets import BUCKETS_640, buckets, fit_to_bucket, nearest_bucket
from local_engine.engine import (
    Cancelled,
    EngineRefused,
    EngineRequest,
    FramePackEngine,
    Progress,
    sections_for,
)
from local_engine.folders import Folders, WeightsMissing
from local_engine.loading import load_engine
from local_engine.options import EngineOptions, speed_up
from tests.support import tiny_framepack as tiny
from tests.support.subprocess_env import isolated_env

BASE = 64  # bucket base: 16:9 -> 48 x 80
CPU = EngineOptions(device="cpu", dtype="float32", offload="none", vae_tiling=False)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> FramePackEngine:
    scratch = tmp_path_factory.mktemp("tiny")
    return tiny.engine(
        scratch,
        f1_transformer=tiny.transformer(seed=1),
    )


def request(**changes) -> EngineRequest:
    fields = dict(
        image=Image.new("RGB", (64, 36), (200, 60, 40)),
        prompt="the waves roll in",
        num_frames=12,
        base=BASE,
        seed=7,
        steps=2,
    )
    fields.update(changes)
    return EngineRequest(**fields)


def test_image_to_video_fits_a_bucket_and_the_requested_length(
    engine: FramePackEngine, tmp_path: Path
) -> None:
    calls: list[Progress] = []
    out = engine.generate(request(), tmp_path / "v.mp4", on_progress=calls.append)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = [f for f in container.decode(stream)]
        assert stream.average_rate == 30 and stream.codec_context.pix_fmt == "yuv420p"
    height, width = frames[0].height, frames[0].width
    assert width > height and width % 16 == 0 and height % 16 == 0  # landscape, as the image
    assert len(frames) == 12  # two sections made 2 * 3 * 4 + 1 = 25; trimmed
    assert len(calls) == sections_for(12, tiny.WINDOW) * 2 == 4
    assert [c.section for c in calls] == [0, 0, 1, 1] and calls[-1].eta_s == 0


def test_a_portrait_image_gets_a_portrait_bucket(engine: FramePackEngine) -> None:
    frames = engine.frames(request(image=Image.new("RGB", (36, 64)), num_frames=5))
    assert frames.shape[1] > frames.shape[2]


def test_the_same_seed_repeats_and_another_differs(engine: FramePackEngine) -> None:
    first = engine.frames(request(num_frames=5))
    again = engine.frames(request(num_frames=5))
    other = engine.frames(request(num_frames=5, seed=8))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_last_frame_changes_the_video_and_f1_refuses_one(engine: FramePackEngine) -> None:
    last = Image.new("RGB", (64, 36), (20, 60, 220))
    plain = engine.frames(request(num_frames=5))
    ending = engine.frames(request(num_frames=5, last_image=last))
    assert ending.shape == plain.shape and not np.array_equal(plain, ending)
    f1 = engine.frames(request(num_frames=5, f1=True))
    assert f1.shape == plain.shape and not np.array_equal(plain, f1)
    with pytest.raises(EngineRefused, match="cannot end on a last frame"):
        engine.frames(request(num_frames=5, f1=True, last_image=last))


def test_cancel_stops_within_one_step_and_frees_the_engine(engine: FramePackEngine) -> None:
    cancel = threading.Event()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.step == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        engine.frames(request(num_frames=30, steps=3), on_progress=progress, cancel=cancel)
    assert [p.step for p in seen] == [1, 2]  # of 4 sections x 3 steps
    assert engine.frames(request(num_frames=5)).shape[0] == 5  # the next job runs


def test_loading_from_the_operators_folder_layout(tmp_path: Path) -> None:
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights", f1=True)
    assert folders.problems() == []
    with no_network():
        engine = load_engine(folders, CPU, prompt_template=tiny.PROMPT_TEMPLATE)
        engine.window = tiny.WINDOW
        frames = engine.frames(request(num_frames=5, f1=True))
    assert frames.shape[0] == 5


def test_missing_folders_are_named_at_once_without_a_network_call(tmp_path: Path) -> None:
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    (folders.image_encoder / "feature_extractor" / "preprocessor_config.json").unlink()
    broken = Folders(folders.base, Path("relative/not-there"), folders.image_encoder)
    started = time.monotonic()
    with no_network(), pytest.raises(WeightsMissing) as refused:
        load_engine(broken, CPU)
    message = str(refused.value)
    assert "transformer_dir" in message and "no such folder" in message
    assert "lllyasviel/FramePackI2V_HY" in message
    assert "feature_extractor/preprocessor_config.json" in message
    assert "base_model_dir" not in message  # that one is complete
    assert time.monotonic() - started < 2
    unset = Folders(None, None, None)
    assert len(unset.problems()) == 3


class no_network:
    """Any outbound connection attempt in the block fails the test."""

    def __enter__(self) -> None:
        self._connect = socket.socket.connect
        self.attempts: list[object] = []

        def refuse(sock: socket.socket, address: object) -> None:
            self.attempts.append(address)
            raise AssertionError(f"a network connection was attempted: {address}")

        socket.socket.connect = refuse  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        socket.socket.connect = self._connect  # type: ignore[method-assign]
        assert not self.attempts, self.attempts


@pytest.mark.parametrize(
    ("size", "bucket"),
    [
        ((1920, 1080), (480, 832)),
        ((1080, 1920), (832, 480)),
        ((1000, 1000), (640, 608)),
        ((3000, 1000), (416, 960)),
        ((640, 608), (608, 640)),
    ],
)
def test_framepack_buckets_by_nearest_aspect(size, bucket) -> None:
    # Moved from tests/test_intake.py with the bot's own copy of the table, which
    # nothing used: the engine's is the one table.
    assert nearest_bucket(*size, 640) in BUCKETS_640
    assert nearest_bucket(*size, 640) == bucket
    fitted = fit_to_bucket(Image.new("RGB", size), nearest_bucket(*size, 640))
    assert fitted.size == (bucket[1], bucket[0])


def test_bucket_crop_is_centred() -> None:
    image = Image.new("RGB", (2000, 1000), (0, 0, 0))
    image.paste((255, 255, 255), (900, 0, 1100, 1000))  # a white stripe in the middle
    fitted = fit_to_bucket(image, nearest_bucket(*image.size, 640))
    assert fitted.getpixel((fitted.width // 2, fitted.height // 2)) == (255, 255, 255)
    assert fitted.getpixel((5, fitted.height // 2)) == (0, 0, 0)


def test_buckets_and_the_centre_crop() -> None:
    assert buckets(640) == sorted(BUCKETS_640)
    assert nearest_bucket(1920, 1080, 640) == (480, 832)
    assert nearest_bucket(1080, 1920, 640) == (832, 480)
    assert all(h % 16 == 0 and w % 16 == 0 for h, w in buckets(960))
    # A wide image, blue ends and a red middle: scaled by 1.2 to cover 832 x 480, then
    # 184 px cut from each side, red starts at x = 176. Squeezed to 832 wide instead
    # (what the pipeline would do), red would start at x = 250.
    wide = Image.new("RGB", (1000, 400), (0, 0, 255))
    wide.paste((255, 0, 0), (300, 0, 700, 400))
    fitted = fit_to_bucket(wide, (480, 832))
    assert fitted.size == (832, 480)
    assert fitted.getpixel((170, 240))[2] > 200 and fitted.getpixel((182, 240))[0] > 200


@pytest.mark.parametrize(
    "cache", ["first-block", "mag-cache", "faster-cache", "pyramid-attention-broadcast"]
)
def test_every_step_cache_runs_on_the_framepack_pipeline(tmp_path: Path, cache: str) -> None:
    # FirstBlockCache and MagCache need a cache context, which diffusers' FramePack
    # pipeline never opens: without our wrapping they raise "No context is set".
    pipe = tiny.pipeline(tmp_path)
    options = EngineOptions(device="cpu", dtype="float32", step_cache=cache, vae_tiling=True)
    engine = FramePackEngine(
        pipe,
        latent_window_size=tiny.WINDOW,
        prompt_template=tiny.PROMPT_TEMPLATE,
        cache_context=speed_up(pipe, options, steps=2),
    )
    assert engine.frames(request(num_frames=5)).shape[0] == 5


def test_doctor_names_what_the_engine_still_lacks(tmp_path: Path) -> None:
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    env = isolated_env(
        tmp_path / "data",
        FPBOT_PROVIDERS__LOCAL__ENABLED="true",
        FPBOT_ENGINE__BASE_MODEL_DIR=str(folders.base),
        FPBOT_ENGINE__TRANSFORMER_DIR=str(folders.transformer),
        FPBOT_ENGINE__IMAGE_ENCODER_DIR=str(folders.image_encoder),
    )

    def doctor() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "doctor"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return done.stdout

    assert "missing:" not in doctor()
    (folders.base / "vae" / "config.json").unlink()
    env["FPBOT_ENGINE__F1_TRANSFORMER_DIR"] = str(tmp_path / "no-f1")
    out = doctor()
    assert "missing: [engine] base_model_dir" in out and "vae/config.json" in out
    assert "missing: [engine] f1_transformer_dir" in out and "no such folder" in out


@pytest.mark.parametrize(
    ("f1", "expected"), [(False, [1, 1, 0, 0, 0, 0]), (True, [0, 0, 0, 0, 1, 1])]
)
def test_each_section_is_sampled_with_the_prompt_in_force_at_its_time(
    engine: FramePackEngine, f1: bool, expected: list[int]
) -> None:
    """3 sections of 12 frames start at 0, 0.4 and 0.8 s: the second part (from 0.5 s)
    is in force for the last. The original sampler makes the last section first."""
    parts = ((0.0, "a cat sits"), (0.5, "the cat jumps"))
    pipe = engine.f1_pipe if f1 else engine.pipe
    wanted = [
        pipe.encode_prompt(prompt=text, prompt_template=tiny.PROMPT_TEMPLATE)[0]
        for _, text in parts
    ]
    seen: list[int] = []

    def record(module, args, kwargs, output):  # after every pre-hook: what the model got
        given = kwargs["encoder_hidden_states"]
        seen.append(next(i for i, w in enumerate(wanted) if torch.equal(given, w.to(given.dtype))))

    handle = pipe.transformer.register_forward_hook(record, with_kwargs=True)
    try:
        timed = engine.frames(
            request(num_frames=25, f1=f1, prompt=parts[0][1], timed_prompts=parts)
        )
    finally:
        handle.remove()
    plain = engine.frames(request(num_frames=25, f1=f1, prompt=parts[0][1]))
    assert seen == expected  # steps 2 x sections 3, in the order they were sampled
    assert not np.array_equal(timed, plain)
    assert len(pipe.transformer._forward_pre_hooks) == 0  # the swap is gone after the call


def test_a_lora_changes_the_frames_weight_0_does_not_and_switching_loads_nothing_again(
    tmp_path: Path,
) -> None:
    engine = tiny.engine(
        tmp_path / "tiny",
        loras={
            "wave": tiny.save_lora(tmp_path / "wave"),
            "glow": tiny.save_lora(tmp_path / "glow", 1),
        },
    )
    base_weights = engine.pipe.transformer.state_dict()["x_embedder.proj.weight"].clone()
    plain = engine.frames(request())
    waved = engine.frames(request(loras=(("wave", 1.0),)))
    again_plain = engine.frames(request())  # right after a LoRA at full weight
    zero = engine.frames(request(loras=(("wave", 0.0),)))
    both = engine.frames(request(loras=(("wave", 0.7), ("glow", 0.5))))
    waved_again = engine.frames(request(loras=(("wave", 1.0),)))
    assert not np.array_equal(plain, waved)
    assert np.array_equal(plain, zero)  # weight 0 is no LoRA
    assert np.array_equal(plain, again_plain)  # none after one: the base model exactly
    assert not np.array_equal(both, waved) and np.array_equal(waved, waved_again)
    assert engine.loras.loads == 2  # each file once, however the jobs switch
    after = engine.pipe.transformer.state_dict()["x_embedder.proj.weight"]
    assert torch.equal(base_weights, after)  # the base weights were never touched
    with pytest.raises(EngineRefused, match="no LoRA named sparkle is installed here"):
        engine.frames(request(loras=(("sparkle", 1.0),)))


def test_the_gpu_bench_runs_every_variant_on_the_cpu_check(tmp_path: Path) -> None:
    """`bench/engine.py --gpu` needs a GPU this project is seldom lent; `--check` runs
    the same table code on the tiny pipeline so the day one is lent it runs at once."""
    bench = Path(__file__).resolve().parent.parent / "bench" / "engine.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        env=isolated_env(tmp_path / "data"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "transformer" in done.stdout and "B parameters" in done.stdout  # the meta sizes
    rows = [line.split() for line in done.stdout.splitlines() if "s/frame" in line]
    native = [row for row in rows if row[1] == "native"]
    assert len(native) == 7 and sum(row[2] == "yes" for row in native) == 2  # LoRA rows
    assert sum(row[3] == "yes" for row in native) == 1  # an Extend, with its history


def test_a_listed_lora_whose_file_is_gone_is_refused_in_one_line(engine: FramePackEngine) -> None:
    engine.loras.files["gone"] = Path("/nowhere/gone.safetensors")
    try:
        with pytest.raises(
            EngineRefused, match=r"the LoRA file /nowhere/gone\.safetensors is missing"
        ):
            engine.frames(request(loras=(("gone", 1.0),)))
    finally:
        del engine.loras.files["gone"]


def test_a_draft_is_sampled_with_the_draft_step_cache_and_the_next_job_without(
    tmp_path: Path,
) -> None:
    engine = tiny.engine(
        tmp_path / "tiny",
        draft_cache="first-block",
    )
    transformer = engine.pipe.transformer
    cached: list[bool] = []
    handle = transformer.register_forward_pre_hook(
        lambda module, args: cached.append(module.is_cache_enabled)
    )
    try:
        engine.frames(request(draft=True))
        during_draft, cached[:] = cached[:], []
        engine.frames(request())
    finally:
        handle.remove()
    assert during_draft and all(during_draft)
    assert cached and not any(cached)  # a full job right after: no cache
    assert not transformer.is_cache_enabled

"""`framepack-bot generate` as a user runs it, against each fake provider."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import av
import pytest

from bot.core.media import write_tags
from providers import PROVIDERS
from tests.support.fakes.media import make_mp4
from tests.support.fakes.provider_base import start_shade
from tests.support.provider_world import API_KEY, FAKES, png_bytes
from tests.support.service_world import animate, service_world
from tests.support.subprocess_env import isolated_env

ROOT = Path(__file__).resolve().parent.parent


async def run_cli(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    clean = isolated_env(tmp_path / "data", **env)
    # Not subprocess.run: the fake serves on this event loop while the CLI runs.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()


def provider_env(name: str, base_url: str) -> dict[str, str]:
    prefix = f"FPBOT_PROVIDERS__{name.upper()}__"
    return {
        str(PROVIDERS[name].key_variable): API_KEY,
        prefix + "BASE_URL": base_url,
        prefix + "POLL_INTERVAL": "0.5",
        prefix + "MAX_POLL_INTERVAL": "0.5",
    }


@pytest.mark.parametrize("name", sorted(FAKES))
async def test_generate_writes_a_video_that_decodes(tmp_path: Path, name: str) -> None:
    (tmp_path / "first.png").write_bytes(png_bytes(90, 160))  # portrait: auto picks 9:16
    length = ["--duration", "10"] if name == "piapi" else ["--num-frames", "45"]
    async with FAKES[name](API_KEY, queue_polls=1, running_polls=1) as fake:
        code, out, err = await run_cli(
            tmp_path,
            "generate",
            "--provider",
            name,
            "--image",
            "first.png",
            "--prompt",
            "the fox turns its head",
            *length,
            "-o",
            "out/video.mp4",
            env=provider_env(name, fake.base_url),
        )
        assert code == 0, err
        job = next(iter(fake.jobs.values()))
    video = tmp_path / "out" / "video.mp4"
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        size = (stream.codec_context.width, stream.codec_context.height)
    assert frames == (300 if name == "piapi" else 45) == job.frames
    assert size == job.size
    if name != "piapi":
        assert size[0] < size[1]  # the portrait image chose 9:16
    assert f"video: {video.relative_to(tmp_path)}" in out
    assert "seed: " in out and f"provider: {name}" in out
    assert API_KEY not in out + err
    assert err == ""  # no progress bar or log noise when not at a terminal


async def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "first.png").write_bytes(png_bytes(128, 72))
    (tmp_path / "notes.txt").write_text("not an image")
    async with FAKES["piapi"](API_KEY) as fake:
        env = provider_env("piapi", fake.base_url)
        cases = [
            (["--image", "missing.png"], "cannot read missing.png"),
            (["--image", "notes.txt"], "notes.txt: That file is not an image I can read"),
            (["--image", "first.png", "--duration", "5"], "10 to 30 s of video here, not 5 s"),
            (
                ["--image", "first.png", "--duration", "10", "--num-frames", "300"],
                "give num_frames or duration, not both",
            ),
            (
                ["--image", "first.png", "--duration", "10", "--provider", "openai"],
                "unknown provider 'openai'",
            ),
            (
                ["--image", "first.png", "--duration", "10", "--provider", "fal"],
                "fal is not configured: set FAL_KEY",
            ),
        ]
        for args, expected in cases:
            extra = [] if "--provider" in args else ["--provider", "piapi"]
            code, _, err = await run_cli(
                tmp_path, "generate", *extra, *args, "--prompt", "x", "-o", "v.mp4", env=env
            )
            assert code == 2, (args, err)
            assert expected in err and len(err.strip().splitlines()) == 1, err
        assert fake.submit_attempts == 0


async def test_provider_failure_exits_1_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "first.png").write_bytes(png_bytes(128, 72))
    async with FAKES["wavespeed"](API_KEY, queue_polls=0, running_polls=0) as fake:
        fake.faults.fail_job = "GPU lost"
        code, _, err = await run_cli(
            tmp_path,
            "generate",
            "--provider",
            "wavespeed",
            "--image",
            "first.png",
            "--prompt",
            "x",
            "-o",
            "v.mp4",
            env=provider_env("wavespeed", fake.base_url),
        )
    assert code == 1
    assert err.strip() == "framepack-bot: wavespeed: failed: GPU lost"
    assert not (tmp_path / "v.mp4").exists()


def _image(fmt: str, **save) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (128, 72), (200, 60, 40)).save(buffer, fmt, **save)
    return buffer.getvalue()


async def test_the_output_path_is_checked_before_anything_is_paid_for(tmp_path: Path) -> None:
    (tmp_path / "first.png").write_bytes(png_bytes(128, 72))
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain-file").write_text("x")
    async with FAKES["fal"](API_KEY) as fake:
        env = provider_env("fal", fake.base_url)
        for output, words in [
            ("folder", "folder is a directory"),
            ("plain-file/video.mp4", "plain-file is a file, not a folder"),
            ("plain-file/deeper/video.mp4", "plain-file is a file, not a folder"),
        ]:
            code, _, err = await run_cli(
                tmp_path, "generate", "--provider", "fal", "--image", "first.png",
                "--prompt", "x", "-o", output, env=env,
            )  # fmt: skip
            assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert fake.submit_attempts == 0


async def test_generate_takes_images_by_the_chat_paths_rules(tmp_path: Path) -> None:
    """The same intake code as the chat path: GIF and the other formats taken, bombs
    and truncated files refused with one line, before anything is sent."""
    from PIL import Image

    (tmp_path / "anim.gif").write_bytes(_image("GIF"))
    (tmp_path / "cut.png").write_bytes(png_bytes(128, 72)[:-30])
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")
    async with FAKES["fal"](API_KEY) as fake:
        env = provider_env("fal", fake.base_url)
        refused = {}
        for name in ("cut.png", "bomb.png"):
            code, _, err = await run_cli(
                tmp_path, "generate", "--provider", "fal", "--image", name,
                "--prompt", "x", "-o", "v.mp4", env=env,
            )  # fmt: skip
            refused[name] = (code, err)
        assert fake.submit_attempts == 0
        code, _, err = await run_cli(
            tmp_path, "generate", "--provider", "fal", "--image", "anim.gif",
            "--prompt", "x", "-o", "gif.mp4", env=env,
        )  # fmt: skip
    assert code == 0, err
    assert refused["cut.png"][0] == 2 and "damaged" in refused["cut.png"][1]
    assert refused["bomb.png"][0] == 2 and "too many pixels" in refused["bomb.png"][1]
    assert all(
        "Traceback" not in err and len(err.strip().splitlines()) == 1 for _, err in refused.values()
    )


@pytest.mark.parametrize("loop", [False, True], ids=["still image", "loop"])
async def test_generate_from_a_video_of_the_bot_sends_the_request_that_made_it(
    tmp_path: Path, loop: bool
) -> None:
    async with service_world(tmp_path) as world:
        options = {"num_frames": 60, "negative_prompt": "blur", "guidance": 7, "seed": 42}
        outcome = await world.service.submit(animate("waves roll in", loop=loop, **options))
        await world.service.join()
        job = await world.store.jobs.require(outcome.job_id)
        made = world.fake.jobs[job.provider_handle["request_id"]]
        video = tmp_path / "forwarded.mp4"
        video.write_bytes(world.delivery.delivered[job.id][0].read_bytes())
    async with FAKES["fal"](API_KEY, queue_polls=1, running_polls=1) as fake:
        env = provider_env("fal", fake.base_url)
        code, _, err = await run_cli(
            tmp_path, "generate", "--from", video.name, "-o", "a.mp4", env=env
        )
        assert code == 0, err
        code, _, err = await run_cli(
            tmp_path, "generate", "--from", video.name, "--seed", "7", "-o", "b.mp4", env=env
        )
        assert code == 0, err
        again, changed = (remade.input for remade in fake.jobs.values())
        endpoint = next(iter(fake.jobs.values())).endpoint
    images = {"image_url", "end_image_url"}
    assert endpoint == made.endpoint
    assert {k: v for k, v in again.items() if k not in images} == {
        k: v for k, v in made.input.items() if k not in images
    }
    # The first image is the video's first frame, which the fake made from the original.
    assert abs(start_shade(again) - start_shade(made.input)) <= 4
    assert ("end_image_url" in again) is loop
    if loop:
        assert again["end_image_url"] == again["image_url"]
    assert changed["seed"] == 7 and changed["prompt"] == "waves roll in"


async def test_generate_from_a_video_without_a_recipe_says_so(tmp_path: Path) -> None:
    (tmp_path / "other.mp4").write_bytes(make_mp4(30, 112, 64))
    code, _, err = await run_cli(tmp_path, "generate", "--from", "other.mp4", "-o", "v.mp4", env={})
    assert code == 2
    assert err.strip() == "framepack-bot: other.mp4: the video carries no framepack-bot recipe"


async def test_generate_from_a_video_whose_recipe_does_not_read_says_so(tmp_path: Path) -> None:
    video = tmp_path / "forged.mp4"
    video.write_bytes(make_mp4(30, 112, 64))
    write_tags(video, {"made_by": "framepack-bot", "prompt": "x", "provider": "fal",
                       "frames": "60", "loras": "../../etc/passwd:9"})  # fmt: skip
    code, _, err = await run_cli(
        tmp_path, "generate", "--from", "forged.mp4", "-o", "v.mp4", env={}
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "its recipe does not read (loras" in err

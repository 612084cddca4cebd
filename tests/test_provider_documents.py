"""Every provider as its documentation says: each provider x model x mode makes a video
with no options at all; Wan's lengths and sizes; refusals in the user's terms before
anything is sent; PiAPI's two answer shapes; rate limits that slow a running job's
polls down and never end it; and fakes that refuse what the documents refuse."""

from __future__ import annotations

import base64
from pathlib import Path

import aiohttp
import av
import pytest
from aiohttp import web

from providers import Failed, ImageInput, Mode, Succeeded
from providers.errors import InvalidInputError
from tests.support.fakes.piapi import FakePiAPI
from tests.support.provider_world import (
    API_KEY,
    FAKES,
    FakeTime,
    make_provider,
    png_bytes,
    request_for,
)

# lannetech's first-last jobs exist only with a model the operator names.
OPTIONS = {"lannetech": {"first_last_model": "framepack-flf2v"}}


def cases() -> list[tuple[str, str, Mode]]:
    found = []
    for name in sorted(FAKES):
        provider = make_provider(name, "http://127.0.0.1:9", FakeTime(), **OPTIONS.get(name, {}))
        for model, spec in provider.capabilities.models.items():
            found += [(name, model.value, mode) for mode in spec.endpoint]
    return found


def image(width: int = 64, height: int = 36, color=(200, 60, 40)) -> ImageInput:
    return ImageInput(data=png_bytes(width, height, color), mime_type="image/png")


def decoded_frames(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, float(stream.average_rate or 0)


@pytest.mark.parametrize(("name", "model", "mode"), cases(), ids=str)
async def test_no_options_makes_a_video_on_every_provider_and_model(
    name, model, mode, tmp_path
) -> None:
    time = FakeTime()
    async with FAKES[name](API_KEY) as fake:
        fake.first_last_models = frozenset(OPTIONS.get(name, {}).values())
        async with make_provider(name, fake.base_url, time, **OPTIONS.get(name, {})) as provider:
            last = image(color=(0, 0, 200)) if mode is Mode.FIRST_LAST_FRAME else None
            request = request_for(name, model=model, last_image=last)
            spec = provider.check(request)
            result = await provider.run(request, tmp_path / "out.mp4")
        job = next(iter(fake.jobs.values()))
    assert fake.refused == [] and fake.submits == 1
    frames, fps = decoded_frames(result.path)
    # The length made is the model's nearest to the bot's 6 s, and is what the
    # service reports and charges for (spec.default_seconds).
    assert frames == job.frames and fps == job.fps
    assert frames / fps == spec.default_seconds


@pytest.mark.parametrize(
    ("name", "seconds", "sent"),
    [
        ("wavespeed", 5, {"duration": 5}),
        ("wavespeed", 10, {"duration": 10}),
        # fal counts Wan's frames at 16 fps: 5 s is its shortest, 81 frames (5.06 s).
        ("fal", 5, {"num_frames": 81, "frames_per_second": 16}),
        ("fal", 6.25, {"num_frames": 100, "frames_per_second": 16}),
    ],
)
async def test_wan_at_its_shortest_and_longest_portrait_first_frame(
    name, seconds, sent, tmp_path
) -> None:
    time = FakeTime()
    async with FAKES[name](API_KEY) as fake:
        async with make_provider(name, fake.base_url, time) as provider:
            request = request_for(
                name,
                model="wan-flf2v",
                image=image(36, 64),
                last_image=image(36, 64, (0, 0, 200)),
                duration=seconds,
            )
            result = await provider.run(request, tmp_path / "out.mp4")
        job = next(iter(fake.jobs.values()))
    assert fake.refused == []
    assert {key: job.input[key] for key in sent} == sent
    if name == "wavespeed":
        assert job.input["size"] == "480*832"
        assert "image" not in job.input  # Wan takes first_image and last_image
    else:
        assert job.input["aspect_ratio"] == "9:16"
    frames, _ = decoded_frames(result.path)
    assert frames == job.frames


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("wavespeed", {"duration": 4}, "5 to 10 s of video here, not 4 s"),
        ("wavespeed", {"duration": 11}, "5 to 10 s of video here, not 11 s"),
        ("fal", {"duration": 4}, "5.1 to 6.2 s of video here, not 4 s"),
        ("fal", {"num_frames": 300}, "5.1 to 6.2 s of video here, not 10 s"),
    ],
)
async def test_wan_lengths_out_of_range_are_refused_in_seconds_with_nothing_sent(
    name, changes, message
) -> None:
    async with (
        FAKES[name](API_KEY) as fake,
        make_provider(name, fake.base_url, FakeTime()) as provider,
    ):
        request = request_for(name, model="wan-flf2v", last_image=image(), **changes)
        with pytest.raises(InvalidInputError, match=message):
            await provider.submit(request)
    assert sum(fake.calls.values()) == 0


@pytest.mark.parametrize("top_level", [True, False], ids=["top-level", "in-data"])
async def test_piapi_submit_answer_in_either_documented_shape(top_level, tmp_path) -> None:
    time = FakeTime()
    async with FakePiAPI(API_KEY) as fake:
        fake.top_level_answers = top_level
        async with make_provider("piapi", fake.base_url, time) as provider:
            handle = await provider.submit(request_for("piapi"))
            assert handle.request_id in fake.jobs
            events = [event async for event in provider.watch(handle)]
    assert isinstance(events[-1], Succeeded)
    assert fake.submits == fake.submit_attempts == 1


@pytest.mark.parametrize("name", sorted(FAKES))
async def test_ten_rate_limited_polls_in_a_row_slow_the_job_down_and_never_end_it(
    name, tmp_path
) -> None:
    time = FakeTime()
    async with (
        FAKES[name](API_KEY) as fake,
        make_provider(name, fake.base_url, time) as provider,
    ):
        handle = await provider.submit(request_for(name))
        fake.faults.rate_limit = 10  # the next ten API calls, all polls, answer 429
        fake.faults.retry_after = 3
        events = [event async for event in provider.watch(handle)]
        result = await provider.fetch_result(handle, events[-1], tmp_path / "out.mp4")
    assert not any(isinstance(event, Failed) for event in events)
    assert isinstance(events[-1], Succeeded) and result.path.exists()
    assert fake.calls["status"] >= 10 + 1 and fake.submits == fake.submit_attempts == 1
    # Every 429's Retry-After was waited out; none ran past the deadline.
    assert sum(1 for wait in time.sleeps if wait >= 3) >= 10


async def test_a_rate_limit_that_outlasts_the_deadline_ends_the_job_at_the_deadline() -> None:
    time = FakeTime()
    async with (
        FAKES["fal"](API_KEY) as fake,
        make_provider("fal", fake.base_url, time, deadline=300) as provider,
    ):
        handle = await provider.submit(request_for("fal"))
        fake.faults.rate_limit = 10_000
        events = [event async for event in provider.watch(handle)]
    assert isinstance(events[-1], Failed)
    assert "did not finish within 300 s" in str(events[-1].error)
    assert "rate limited" in str(events[-1].error)


class RateCountingLannetech(FAKES["lannetech"]):  # type: ignore[misc,valid-type]
    """Answers each request with lannetech's documented X-RateLimit headers: none left
    until `reset_in` seconds from the client's clock."""

    reset_in = 20.0
    clock = None  # set by the test: the provider's injected clock

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen_at: list[float] = []  # the client's clock at each API request

    @web.middleware
    async def _headers(self, request: web.Request, handler):
        if not request.path.startswith("/media/"):
            self.seen_at.append(self.clock())
        response = await handler(request)
        if not request.path.startswith("/media/"):
            response.headers["X-RateLimit-Remaining"] = "0"
            response.headers["X-RateLimit-Reset"] = f"{self.clock() + self.reset_in:.0f}"
        return response

    def add_routes(self, router) -> None:
        super().add_routes(router)
        self.app.middlewares.insert(0, self._headers)


async def test_lannetech_rate_limit_headers_hold_the_next_request_until_the_reset() -> None:
    time = FakeTime()
    async with RateCountingLannetech(API_KEY) as fake:
        fake.clock = time.clock
        async with make_provider("lannetech", fake.base_url, time) as provider:
            handle = await provider.submit(request_for("lannetech"))
            events = [event async for event in provider.watch(handle)]
    assert isinstance(events[-1], Succeeded)
    # Each request came after the reset the one before announced (epoch seconds).
    gaps = [later - earlier for earlier, later in zip(fake.seen_at, fake.seen_at[1:], strict=False)]
    assert len(gaps) >= 4 and min(gaps) >= 20


# --- the fakes refuse what the documents refuse -------------------------------------------


def data_uri() -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes()).decode()


async def post(url: str, body: dict, headers: dict) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, await response.text()


async def test_the_wavespeed_fake_refuses_image_for_wan_and_data_uris() -> None:
    async with FAKES["wavespeed"](API_KEY) as fake:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        url = f"{fake.base_url}/api/v3/wavespeed-ai/wan-flf2v"
        picture = "https://example.invalid/a.png"
        base = {"prompt": "x", "size": "832*480", "duration": 5}
        renamed = await post(url, {**base, "image": picture, "last_image": picture}, auth)
        good = await post(url, {**base, "first_image": picture, "last_image": picture}, auth)
        inline = await post(url, {**base, "first_image": data_uri(), "last_image": picture}, auth)
        steps = await post(
            url,
            {**base, "first_image": picture, "last_image": picture, "num_inference_steps": 45},
            auth,
        )
    assert renamed[0] == 400 and "first_image" in renamed[1] and "image" in renamed[1]
    assert good[0] == 200
    assert inline[0] == 400 and steps[0] == 400
    assert fake.submits == 1


async def test_the_lannetech_fake_refuses_a_float_scale_and_undocumented_fields() -> None:
    async with FAKES["lannetech"](API_KEY) as fake:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        url = f"{fake.base_url}/v1/generate-video"
        body = {
            "model": "framepack",
            "prompt": "x",
            "negative_prompt": "",
            "image_url": data_uri(),
            "aspect_ratio": "16:9",
            "resolution": "480p",
            "cfg_scale": 1,
            "guidance_scale": 10,
            "num_frames": 180,
            "enable_safety_checker": True,
        }
        good = await post(url, body, auth)
        float_cfg = await post(url, {**body, "cfg_scale": 1.0}, auth)
        with_seed = await post(url, {**body, "seed": 5}, auth)
        missing = await post(url, {k: v for k, v in body.items() if k != "guidance_scale"}, auth)
        end_image = await post(url, {**body, "end_image_url": data_uri()}, auth)
    assert good[0] == 200
    assert float_cfg[0] == 400 and "cfg_scale" in float_cfg[1]
    assert with_seed[0] == missing[0] == end_image[0] == 400
    assert fake.submits == 1


async def test_the_fal_fake_refuses_image_url_for_wan() -> None:
    async with FAKES["fal"](API_KEY) as fake:
        auth = {"Authorization": f"Key {API_KEY}"}
        status, text = await post(
            f"{fake.base_url}/fal-ai/wan-flf2v",
            {"prompt": "x", "image_url": data_uri(), "end_image_url": data_uri()},
            auth,
        )
    assert status == 422 and "start_image_url" in text
    assert fake.submits == 0


def test_the_readme_table_is_the_one_the_capabilities_make() -> None:
    from providers.catalog import BEGIN, END, table

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    assert readme[start:end] == table(), "run `python -m providers.catalog` into README.md"

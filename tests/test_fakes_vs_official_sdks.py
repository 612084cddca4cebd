"""The official SDKs complete jobs against our fakes: evidence that the fakes speak the
real protocols (fal-client 1.0.3 and wavespeed 2.0.5 are test-only dependencies)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import fal_client
import fal_client.client
import httpx
import pytest
import wavespeed

from providers.mp4 import mp4_problem
from tests.support.fakes.fal import FakeFal
from tests.support.fakes.wavespeed import FakeWaveSpeed
from tests.support.provider_world import API_KEY, png_bytes

IMAGE_URI = "data:image/png;base64,iVBORw0KGgo="


async def download(url: str, dest: Path) -> Path:
    async with httpx.AsyncClient() as client:
        content = (await client.get(url)).content
    await asyncio.to_thread(dest.write_bytes, content)
    return dest


@pytest.fixture
def fal_points_at(monkeypatch: pytest.MonkeyPatch):
    def point(base_url: str) -> None:
        # fal-client reads the queue URL at call time; this is its documented test seam.
        monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", base_url + "/")

    return point


async def test_fal_client_completes_a_job_against_the_fake(fal_points_at, tmp_path) -> None:
    async with FakeFal(API_KEY) as fake:
        fal_points_at(fake.base_url)
        client = fal_client.AsyncClient(key=API_KEY)
        handle = await client.submit(
            "fal-ai/framepack",
            arguments={"prompt": "a fox", "image_url": IMAGE_URI, "num_frames": 60, "seed": 7},
        )
        statuses = [status async for status in handle.iter_events(with_logs=True, interval=0.01)]
        result = await handle.get()
        assert isinstance(statuses[0], fal_client.Queued)
        assert any(isinstance(s, fal_client.InProgress) and s.logs for s in statuses)
        assert isinstance(statuses[-1], fal_client.Completed)
        assert result["seed"] == 7
        video = await download(result["video"]["url"], tmp_path / "fal.mp4")
        assert mp4_problem(video) is None
        assert fake.submits == 1
        assert fake.last_headers["Authorization"] == f"Key {API_KEY}"


async def test_fal_client_sees_a_content_policy_error(fal_points_at) -> None:
    async with FakeFal(API_KEY) as fake:
        fal_points_at(fake.base_url)
        fake.faults.nsfw = True
        client = fal_client.AsyncClient(key=API_KEY)
        handle = await client.submit(
            "fal-ai/framepack/flf2v",
            arguments={"prompt": "x", "image_url": IMAGE_URI, "end_image_url": IMAGE_URI},
        )
        with pytest.raises(fal_client.FalClientHTTPError) as caught:
            await handle.get(interval=0.01)
        assert caught.value.status_code == 422
        # The sub-path is dropped from the status URLs, as on fal.
        assert "/flf2v/" not in handle.status_url


async def test_fal_client_cancels_against_the_fake(fal_points_at) -> None:
    async with FakeFal(API_KEY) as fake:
        fal_points_at(fake.base_url)
        client = fal_client.AsyncClient(key=API_KEY)
        handle = await client.submit(
            "fal-ai/framepack", arguments={"prompt": "x", "image_url": IMAGE_URI}
        )
        await handle.cancel()
        status = await handle.status()
        assert isinstance(status, fal_client.Completed) and status.error


async def test_wavespeed_sdk_completes_a_job_against_the_fake(tmp_path) -> None:
    async with FakeWaveSpeed(API_KEY) as fake:
        client = wavespeed.Client(api_key=API_KEY, base_url=fake.base_url)
        # The SDK is synchronous: run it in a thread while the fake serves on this loop.
        # Images are URLs there: uploaded first, through the SDK's own upload.
        picture = png_bytes()
        image_url = await asyncio.to_thread(client.upload, io.BytesIO(picture))
        output = await asyncio.to_thread(
            client.run,
            "wavespeed-ai/framepack",
            {"prompt": "a fox", "image": image_url, "num_frames": 45, "seed": 3},
            poll_interval=0.01,
        )
        video = await download(output["outputs"][0], tmp_path / "ws.mp4")
        assert mp4_problem(video) is None
        assert fake.submits == 1 and fake.refused == []
        assert fake.image_bytes(image_url) == picture
        assert fake.last_headers["Authorization"] == f"Bearer {API_KEY}"


async def test_wavespeed_sdk_reports_a_failed_job(tmp_path) -> None:
    async with FakeWaveSpeed(API_KEY) as fake:
        fake.faults.fail_job = "GPU lost"
        client = wavespeed.Client(api_key=API_KEY, base_url=fake.base_url, max_retries=0)
        image_url = await asyncio.to_thread(client.upload, io.BytesIO(png_bytes()))
        with pytest.raises(RuntimeError, match="GPU lost"):
            await asyncio.to_thread(
                client.run,
                "wavespeed-ai/wan-flf2v",
                {
                    "prompt": "x",
                    "first_image": image_url,
                    "last_image": image_url,
                    "size": "832*480",
                    "duration": 5,
                },
                poll_interval=0.01,
            )

"""WaveSpeedAI v3: POST /api/v3/{owner}/{model} (Bearer) -> {code, message, data};
GET /api/v3/predictions/{id}/result -> the same envelope with status created,
processing, completed or failed; completed outputs carry has_nsfw_contents."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.provider_base import FakeJob, FakeProvider

WAN_SIZES = {
    "832*480": ("480p", "16:9"),
    "480*832": ("480p", "9:16"),
    "1280*720": ("720p", "16:9"),
    "720*1280": ("720p", "9:16"),
}


class FakeWaveSpeed(FakeProvider):
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/v3/{owner}/{model}", self.submit, name="submit")
        router.add_get("/api/v3/predictions/{id}/result", self.status, name="status")

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _envelope(self, job: FakeJob, status: str, **data) -> web.Response:
        body = {
            "id": job.id,
            "model": job.endpoint,
            "outputs": [],
            "has_nsfw_contents": [],
            "status": status,
            "created_at": "2026-11-21T00:00:00.000Z",
            "error": "",
            "urls": {"get": f"{self.base_url}/api/v3/predictions/{job.id}/result"},
            "timings": {"inference": 0},
            **data,
        }
        return self.json({"code": 200, "message": "success", "data": body})

    async def submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not body.get("image") or not body.get("prompt"):
            return self.json({"code": 400, "message": "image and prompt are required"}, 400)
        model = f"{request.match_info['owner']}/{request.match_info['model']}"
        if "size" in body:  # wan-flf2v: fixed sizes, length in seconds
            resolution, aspect = WAN_SIZES[body["size"]]
            frames = int(body["duration"]) * 30
        else:
            resolution, aspect = body.get("resolution", "480p"), body.get("aspect_ratio", "16:9")
            frames = int(body.get("num_frames", 180))
        job = self.new_job(
            model, body, frames=frames, resolution=resolution, aspect=aspect, seed=body.get("seed")
        )
        await self.after_accept()
        return self._envelope(job, "created")

    async def status(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return self.json({"code": 404, "message": "prediction not found"}, 404)
        stage = self.polled(job)
        if stage == "queued":
            return self._envelope(job, "created")
        if stage == "running":
            return self._envelope(job, "processing")
        if stage == "failed":
            return self._envelope(job, "failed", error=self.faults.fail_job)
        return self._envelope(
            job,
            "completed",
            outputs=[self.media_url(job)],
            has_nsfw_contents=[stage == "nsfw"],
            timings={"inference": 1250},
        )

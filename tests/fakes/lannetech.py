"""lannetech: POST /v1/generate-video (Bearer) with fal-shaped input -> request_id;
POST the same endpoint with {"request_id"} -> status pending, processing, success
(the video) or failed."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.provider_base import KIND, FakeProvider

BODY = web.RequestKey("body", dict)


class FakeLannetech(FakeProvider):
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/generate-video", self.dispatch, name="api")
        self.app.middlewares.insert(0, self._name_by_body)

    @web.middleware
    async def _name_by_body(self, request: web.Request, handler):
        # One endpoint for both: a body with only request_id is a status query.
        if request.match_info.route.name != "api":
            return await handler(request)
        body = await request.json()
        request[BODY] = body
        request[KIND] = "status" if set(body) == {"request_id"} else "submit"
        return await handler(request)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def dispatch(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if set(body) == {"request_id"}:
            return await self.status(body["request_id"])
        if not body.get("prompt") or not body.get("image_url"):
            return self.json({"error": "prompt and image_url are required"}, 400)
        job = self.new_job(
            body.get("model", "framepack"),
            body,
            frames=int(body.get("num_frames", 180)),
            resolution=body.get("resolution", "480p"),
            aspect=body.get("aspect_ratio", "16:9"),
            seed=body.get("seed"),
        )
        await self.after_accept()
        return self.json({"request_id": job.id, "status": "pending"})

    async def status(self, request_id: str) -> web.Response:
        job = self.jobs.get(request_id)
        if job is None:
            return self.json({"error": "unknown request_id"}, 404)
        stage = self.polled(job)
        base = {"request_id": job.id}
        if stage == "queued":
            return self.json({**base, "status": "pending"})
        if stage == "running":
            return self.json({**base, "status": "processing"})
        if stage in ("failed", "nsfw"):
            return self.json(
                {**base, "status": "failed", "error": self.faults.fail_job or "content flagged"}
            )
        return self.json(
            {**base, "status": "success", "video": {"url": self.media_url(job)}, "seed": job.seed}
        )

"""lannetech: POST /v1/generate-video (Bearer) with fal-shaped input -> request_id;
POST the same endpoint with {"request_id"} -> status pending, processing, success
(the video) or failed."""

from __future__ import annotations

from aiohttp import web

from tests.support.fakes.documented import LannetechFirstLast, LannetechGenerate
from tests.support.fakes.provider_base import KIND, FakeProvider

BODY = web.RequestKey("body", dict)


class FakeLannetech(FakeProvider):
    first_last_models: frozenset[str] = frozenset()

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
        # The documented model; an operator's undocumented first-last model (named in
        # `first_last_models`) is taken in fal's shape, with end_image_url.
        schema = (
            LannetechFirstLast if body.get("model") in self.first_last_models else LannetechGenerate
        )
        found = self.undocumented(schema, body)
        if found:
            return self.json({"error": "; ".join(found)}, 400)
        document = schema.model_validate(body)
        job = self.new_job(
            document.model,
            body,
            frames=document.num_frames,
            resolution=document.resolution,
            aspect=document.aspect_ratio,
            seed=None,
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
        return self.json({**base, "status": "success", "video": {"url": self.media_url(job)}})

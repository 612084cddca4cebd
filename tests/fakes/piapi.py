"""PiAPI: POST /api/v1/task (x-api-key) with model, task_type, input; GET
/api/v1/task/{task_id}. Statuses pending, staged, processing, completed, failed. The
video URL comes as output.video_url for odd jobs and output.works[].resource.resource
for even ones: both shapes have been seen from the real service."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.provider_base import FakeJob, FakeProvider


class FakePiAPI(FakeProvider):
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/v1/task", self.submit, name="submit")
        router.add_get("/api/v1/task/{id}", self.status, name="status")

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("x-api-key") == self.api_key

    def _task(self, job: FakeJob, status: str, output=None, error=None) -> web.Response:
        return self.json(
            {
                "code": 200,
                "message": "success",
                "data": {
                    "task_id": job.id,
                    "model": "Qubico/framepack",
                    "task_type": "img2video",
                    "status": status,
                    "input": {},
                    "output": output,
                    "meta": {},
                    "logs": [],
                    "error": error or {"code": 0, "raw_message": "", "message": ""},
                },
            }
        )

    async def submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        task_input = body.get("input") or {}
        if body.get("model") != "Qubico/framepack" or body.get("task_type") != "img2video":
            return self.json({"code": 400, "message": "unknown model or task type"}, 400)
        duration = task_input.get("duration")
        if not isinstance(duration, int) or not 10 <= duration <= 30:
            return self.json({"code": 400, "message": "duration must be 10 to 30"}, 400)
        if not task_input.get("start_image"):
            return self.json({"code": 400, "message": "start_image is required"}, 400)
        job = self.new_job(
            "Qubico/framepack",
            body,
            frames=duration * 30,
            resolution="480p",
            aspect="16:9",
            seed=None,
        )
        await self.after_accept()
        return self._task(job, "pending")

    async def status(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return self.json({"code": 404, "message": "task not found"}, 404)
        stage = self.polled(job)
        if stage == "queued":
            return self._task(job, "pending" if job.polls == 1 else "staged")
        if stage == "running":
            return self._task(job, "processing")
        if stage in ("failed", "nsfw"):
            reason = self.faults.fail_job or "the image failed the content check"
            return self._task(
                job, "failed", error={"code": 10000, "message": reason, "raw_message": reason}
            )
        url = self.media_url(job)
        number = int(job.id.rsplit("-", 1)[1])
        output = (
            {"video_url": url}
            if number % 2
            else {
                "works": [
                    {
                        "resource": {"resource": url, "resource_without_watermark": ""},
                        "cover": {"resource": ""},
                    }
                ]
            }
        )
        return self._task(job, "completed", output=output)

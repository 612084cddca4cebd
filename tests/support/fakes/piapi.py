"""PiAPI: POST /api/v1/task (x-api-key) with model, task_type, input; GET
/api/v1/task/{task_id}. Statuses pending, staged, processing, completed, failed. The
video URL comes as output.video_url for odd jobs and output.works[].resource.resource
for even ones: both shapes have been seen from the real service."""

from __future__ import annotations

from aiohttp import web

from tests.support.fakes.documented import PiAPITask
from tests.support.fakes.provider_base import FakeJob, FakeProvider


class FakePiAPI(FakeProvider):
    # True: answer a submit with the task at the top level, as the framepack page shows
    # ({"task_id", "status", "created_at"}); False: inside the unified API's `data`.
    top_level_answers = False

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
        found = self.undocumented(PiAPITask, body)
        if found:
            return self.json({"code": 400, "message": "; ".join(found)}, 400)
        task = PiAPITask.model_validate(body)
        job = self.new_job(
            "Qubico/framepack",
            body,
            frames=task.input.duration * 30,
            resolution="480p",
            aspect="16:9",
            seed=None,
        )
        await self.after_accept()
        if self.top_level_answers:
            # The submit answer as the model's page documents it.
            return self.json({"task_id": job.id, "status": "pending", "created_at": "2026-12-01"})
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

"""fal's queue API: POST /{app} -> request id and URLs; GET .../requests/{id}/status
(202 while IN_QUEUE / IN_PROGRESS, 200 when COMPLETED); GET .../requests/{id} for the
result; PUT .../requests/{id}/cancel. URLs drop the app's sub-path, as fal's do."""

from __future__ import annotations

import time

from aiohttp import web

from tests.support.fakes.documented import FAL
from tests.support.fakes.provider_base import KIND, FakeProvider


class FakeFal(FakeProvider):
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/{owner}/{alias}", self.submit, name="submit")
        router.add_post("/{owner}/{alias}/{sub}", self.submit, name="submit-sub")
        router.add_get("/{owner}/{alias}/requests/{id}/status", self.status, name="status")
        router.add_get("/{owner}/{alias}/requests/{id}", self.result, name="result")
        router.add_put("/{owner}/{alias}/requests/{id}/cancel", self.cancel, name="cancel")
        self.app.middlewares.insert(0, self._name_sub_route)

    @web.middleware
    async def _name_sub_route(self, request: web.Request, handler):
        # Both submit routes count as "submit" for the fault switches and counters.
        if request.match_info.route.name == "submit-sub":
            request[KIND] = "submit"
        return await handler(request)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Key {self.api_key}"

    def _urls(self, request: web.Request, job_id: str) -> dict[str, str]:
        base = f"{self.base_url}/{request.match_info['owner']}/{request.match_info['alias']}"
        return {
            "status_url": f"{base}/requests/{job_id}/status",
            "response_url": f"{base}/requests/{job_id}",
            "cancel_url": f"{base}/requests/{job_id}/cancel",
        }

    async def submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        parts = [request.match_info["owner"], request.match_info["alias"]]
        if "sub" in request.match_info:
            parts.append(request.match_info["sub"])
        app = "/".join(parts)
        schema = FAL.get(app)
        if schema is None:
            return self.json({"detail": f"Application '{app}' not found"}, 404)
        found = self.undocumented(schema, body)
        if found:
            # fal answers a body its schema refuses with 422 and pydantic-style details.
            return self.json(
                {
                    "detail": [
                        {"loc": ["body"], "msg": problem, "type": "value_error"}
                        for problem in found
                    ]
                },
                422,
            )
        document = schema.model_validate(body)
        job = self.new_job(
            app,
            body,
            frames=document.num_frames,
            resolution=document.resolution,
            aspect=getattr(document, "aspect_ratio", "16:9"),
            seed=document.seed,
            fps=getattr(document, "frames_per_second", 30),
        )
        await self.after_accept()
        return self.json({"request_id": job.id, **self._urls(request, job.id), "queue_position": 0})

    def _job(self, request: web.Request):
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            raise web.HTTPNotFound(
                text='{"detail": "Request not found"}', content_type="application/json"
            )
        return job

    async def status(self, request: web.Request) -> web.Response:
        job = self._job(request)
        stage = self.polled(job)
        with_logs = request.query.get("logs", "0").lower() in ("1", "true")
        base = {"request_id": job.id, **self._urls(request, job.id)}
        if stage == "queued":
            position = max(0, self.queue_polls - job.polls)
            return self.json({**base, "status": "IN_QUEUE", "queue_position": position}, 202)
        logs = [
            {
                "message": f"Sampling section {n}/4 ({n * 25}%)",
                "level": "INFO",
                "source": "user",
                "timestamp": time.time(),
            }
            for n in range(1, job.polls - self.queue_polls + 1)
        ]
        if stage == "running":
            return self.json(
                {**base, "status": "IN_PROGRESS", "logs": logs if with_logs else None}, 202
            )
        done = {
            **base,
            "status": "COMPLETED",
            "logs": logs if with_logs else None,
            "metrics": {"inference_time": 1.25},
        }
        if stage == "failed":
            done.update(error=self.faults.fail_job, error_type="runner_failed")
        elif stage == "nsfw":
            done.update(
                error="The content could not be processed because it contained "
                "material flagged by a content checker.",
                error_type="content_policy_violation",
            )
        elif stage == "cancelled":
            done.update(error="Request cancelled", error_type="request_cancelled")
        return self.json(done, 200)

    async def result(self, request: web.Request) -> web.Response:
        job = self._job(request)
        stage = job.stage(self.faults, self.queue_polls, self.running_polls)
        if stage in ("queued", "running"):
            return self.json({"detail": "Request is still in progress"}, 400)
        if stage == "failed":
            return self.json({"detail": self.faults.fail_job}, 500)
        if stage == "nsfw":
            return self.json(
                {
                    "detail": [
                        {
                            "loc": ["body", "image_url"],
                            "msg": "content flagged by a content checker",
                            "type": "content_policy_violation",
                        }
                    ]
                },
                422,
            )
        if stage == "cancelled":
            return self.json({"detail": "Request was cancelled"}, 400)
        return self.json(
            {
                "video": {
                    "url": self.media_url(job),
                    "content_type": "video/mp4",
                    "file_name": "output.mp4",
                },
                "seed": job.seed if job.seed is not None else 42,
            }
        )

    async def cancel(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if job.stage(self.faults, self.queue_polls, self.running_polls) in ("done", "failed"):
            return self.json({"status": "ALREADY_COMPLETED"}, 400)
        job.cancelled = True
        return self.json({"status": "CANCELLATION_REQUESTED"}, 202)

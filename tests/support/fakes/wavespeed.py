"""WaveSpeedAI v3: POST /api/v3/{owner}/{model} (Bearer) -> {code, message, data};
GET /api/v3/predictions/{id}/result -> the same envelope with status created,
processing, completed or failed; completed outputs carry has_nsfw_contents.

Images are documented as URLs. The media upload works as wavespeed 2.0.5's
`Client.upload` expects: POST /api/v3/media/uploads {filename, size, content_type} ->
a ticket {upload: {method: PUT, url, headers}, download_url}; the bytes are PUT to
the ticket's URL (no credentials). A submit naming one of this fake's own upload URLs
whose bytes never arrived is refused, as a real fetch of it would fail."""

from __future__ import annotations

import itertools

from aiohttp import web

from tests.support.fakes.documented import WAVESPEED, WaveSpeedUploadTicket
from tests.support.fakes.provider_base import FakeJob, FakeProvider

WAN_SIZES = {
    "832*480": ("480p", "16:9"),
    "480*832": ("480p", "9:16"),
    "1280*720": ("720p", "16:9"),
    "720*1280": ("720p", "9:16"),
}


class FakeWaveSpeed(FakeProvider):
    # WaveSpeed documents image fields as URLs: data URIs are refused unless a test
    # says the API takes them.
    accept_data_uris = False

    def add_routes(self, router: web.UrlDispatcher) -> None:
        # Before the submit route, which would match it too.
        router.add_post("/api/v3/media/uploads", self.ticket, name="upload")
        # Storage, not the API: no key, no faults (like the videos' media route).
        router.add_put("/storage/{name}", self.put_upload, name="media-put")
        router.add_get("/storage/{name}", self.get_upload, name="media-get")
        router.add_post("/api/v3/{owner}/{model}", self.submit, name="submit")
        router.add_get("/api/v3/predictions/{id}/result", self.status, name="status")
        self.uploads: dict[str, bytes] = {}  # storage name -> the bytes PUT there
        self.tickets: dict[str, str] = {}  # storage name -> the content type announced
        self.upload_headers: list[dict[str, str]] = []  # headers of every PUT
        self._upload_ids = itertools.count(1)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def ticket(self, request: web.Request) -> web.Response:
        body = await request.json()
        found = self.undocumented(WaveSpeedUploadTicket, body)
        if found:
            return self.json({"code": 400, "message": "; ".join(found)}, 400)
        name = f"{next(self._upload_ids)}-{body['filename']}"
        self.tickets[name] = body.get("content_type") or "application/octet-stream"
        url = f"{self.base_url}/storage/{name}"
        return self.json(
            {
                "code": 200,
                "message": "success",
                "data": {
                    "upload": {
                        "method": "PUT",
                        "url": url,
                        "headers": {"Content-Type": self.tickets[name]},
                    },
                    "download_url": url,
                },
            }
        )

    async def put_upload(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.tickets:
            return web.Response(status=403, text="no such upload ticket")
        self.upload_headers.append(dict(request.headers))
        self.uploads[name] = await request.read()
        return web.Response(status=200)

    async def get_upload(self, request: web.Request) -> web.Response:
        data = self.uploads.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=data, content_type=self.tickets[request.match_info["name"]])

    def image_bytes(self, url: str) -> bytes | None:
        """The bytes behind an image URL this fake issued (None for any other URL)."""
        prefix = f"{self.base_url}/storage/"
        return self.uploads.get(url[len(prefix) :]) if url.startswith(prefix) else None

    def _unfetchable(self, body: dict) -> list[str]:
        prefix = f"{self.base_url}/storage/"
        return [
            f"{field}: the image at {value} cannot be fetched"
            for field, value in body.items()
            if isinstance(value, str)
            and value.startswith(prefix)
            and self.image_bytes(value) is None
        ]

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
        model = f"{request.match_info['owner']}/{request.match_info['model']}"
        schema = WAVESPEED.get(model)
        if schema is None:
            return self.json({"code": 404, "message": f"model {model} not found"}, 404)
        checked = body
        if self.accept_data_uris:  # as if the API took inline images (not documented)
            checked = {
                key: "https://inline.invalid/image"
                if isinstance(value, str) and value.startswith("data:image/")
                else value
                for key, value in body.items()
            }
        found = self.undocumented(schema, checked)
        if not found and (found := self._unfetchable(body)):
            self.refused.append(found)
        if found:
            return self.json({"code": 400, "message": "; ".join(found)}, 400)
        document = schema.model_validate(checked)
        if "size" in body:  # wan-flf2v: fixed sizes, length in whole seconds at 16 fps
            resolution, aspect = WAN_SIZES[document.size]
            frames, fps = document.duration * 16, 16
        else:
            resolution, aspect = document.resolution, document.aspect_ratio
            frames, fps = document.num_frames, 30
        job = self.new_job(
            model,
            body,
            frames=frames,
            resolution=resolution,
            aspect=aspect,
            seed=document.seed,
            fps=fps,
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

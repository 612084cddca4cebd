"""A job service as its own process, for the crash test.

    python -m tests.support.helpers.service_process submit N [FIRST]  # submit N jobs
                                         # (users FIRST.., 1000 by default), then work
    python -m tests.support.helpers.service_process resume     # only recover and work

It exits once every job in the store has ended, its own or another process's.

Settings come from the environment (FPBOT_DATA_DIR, FAL_KEY, the fal base URL). Posts
go to <data>/posted/<job>-<n>.mp4 through a file target that keeps every post (a
duplicate would show as a second file); every call and every post is appended to
<data>/posted.log."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.cli.run import build_providers, build_safety, build_service
from bot.config import load_settings
from bot.core.api import AnimateRequest, Requester, VideoPost
from storage import JobRecord, JobState, Store
from tests.support.provider_world import png_bytes

FINAL = {JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED, JobState.BLOCKED}


class FileDelivery:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log = folder.parent / "posted.log"
        folder.mkdir(parents=True, exist_ok=True)

    def upload_limit(self, job: JobRecord) -> int:
        return 10 * 2**20

    async def deliver(self, job: JobRecord, post: VideoPost, *, maybe_posted: bool) -> dict:
        return await asyncio.to_thread(self._post, job.id, post.video, maybe_posted)

    def _post(self, job_id: str, video: Path, maybe_posted: bool) -> dict:
        """Every post is a new file and a `post` line (duplicates would show); an earlier
        post is looked for only when the service says one may exist."""
        with self.log.open("a") as log:
            log.write(f"call {job_id}\n")
            earlier = sorted(self.folder.glob(f"{job_id}-*.mp4"))
            if maybe_posted and earlier:
                return {"message_id": earlier[0].name}
            target = self.folder / f"{job_id}-{len(earlier)}.mp4"
            tmp = target.with_suffix(".part")
            tmp.write_bytes(video.read_bytes())
            os.replace(tmp, target)
            log.write(f"post {job_id}\n")
            log.flush()
            return {"message_id": target.name}


async def main(mode: str, count: int = 0, first_user: int = 1000) -> None:
    settings = load_settings()
    store = await Store.open(settings.store_location)
    service = build_service(
        store,
        settings,
        build_providers(settings),
        build_safety(settings, with_detector=False),
        delivery={"discord": FileDelivery(settings.data_dir / "posted")},
    )
    await service.start()
    for n in range(count):
        user = first_user + n
        who = Requester("discord", f"discord:{user}", "discord:77", "discord:c1", "1")
        outcome = await service.submit(
            AnimateRequest(
                who, f"crash test job {user}", png_bytes(96, 64), None, {"num_frames": 30}
            )
        )
        print(f"accepted {outcome.job_id}", flush=True)
    print("submitted", flush=True)
    while True:
        rows = await store.db.fetch_all("SELECT state FROM jobs")
        if rows and all(JobState(r["state"]) in FINAL for r in rows):
            break
        await asyncio.sleep(0.05)
    print("all final", flush=True)
    await service.stop()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], *(int(a) for a in sys.argv[2:])))

"""One side of the resume test, as its own process:

python -m tests.support.helpers.provider_job submit NAME BASE_URL HANDLE_FILE
    submits, saves the handle (as the job service will, before polling), then
    watches, printing each event, until it is killed;
python -m tests.support.helpers.provider_job resume NAME BASE_URL HANDLE_FILE OUT
    loads the handle, watches to the end and downloads the video.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from providers import PROVIDERS, Failed, Handle, Succeeded
from tests.support.provider_world import API_KEY, request_for


async def main(mode: str, name: str, base_url: str, handle_file: str, *rest: str) -> int:
    provider = PROVIDERS[name](
        api_key=API_KEY, base_url=base_url, poll_interval=0.05, max_poll_interval=0.05
    )
    async with provider:
        if mode == "submit":
            handle = await provider.submit(request_for(name))
            tmp = handle_file + ".tmp"
            await asyncio.to_thread(Path(tmp).write_text, handle.model_dump_json())
            os.replace(tmp, handle_file)
            print("saved", flush=True)
            async for event in provider.watch(handle):
                print(type(event).__name__, flush=True)
            return 0
        saved = await asyncio.to_thread(Path(handle_file).read_text)
        handle = Handle.model_validate(json.loads(saved))
        async for event in provider.resume(handle):
            if isinstance(event, Failed):
                print(f"failed: {event.error}", flush=True)
                return 1
            if isinstance(event, Succeeded):
                result = await provider.fetch_result(handle, event, Path(rest[0]))
                print(f"done {result.size_bytes}", flush=True)
                return 0
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:])))

"""One upload, timed, in a process of its own (run by `bench.upload_speed`).

    python bench/_upload_child.py gistbot|plain PORT FILE [PIECE_KIB]

Run as a script with `PYTHONPATH` naming the source tree whose `bot` package to measure (the
working tree, or a checkout of an older commit for a before/after in one run): it imports
nothing else from the repository. Prints one JSON line.

gistbot: `client.assets.upload(FILE, progress=…)` against the sink's API at PORT, after one
untimed upload of a 4 KiB file: the app's client is long-lived, and a process's first request
pays ~20 ms of one-off lazy imports (httpcore, anyio). Timed around the call only; CPU time
and minor page faults over the same span; the peak RSS (VmHWM, reset just before through
/proc/self/clear_refs) and the RSS before it. Then the same upload again (`again_*`): what a
long-lived process sees once its heap and thread pool are warm.
plain: the same file as one streamed httpx PUT (8 MiB reads) to the sink.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
        return True
    except OSError:
        return False


def _usage() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt


async def gistbot(port: int, path: Path) -> dict[str, Any]:
    from bot.twelvelabs import TwelveLabsClient

    seen = [0]

    async def progress(done: int, total: int | None) -> None:
        seen[0] = done  # the app turns this into a throttled Slack edit

    async with TwelveLabsClient("tlk-bench", f"http://127.0.0.1:{port}/v1.3") as client:
        with tempfile.TemporaryDirectory() as tmp:
            warm = Path(tmp) / "warm-up.mp4"
            with path.open("rb") as source:
                warm.write_bytes(source.read(4096))
            await client.assets.upload(warm)
        rss = _status_kib("VmRSS")
        reset = _reset_peak()
        (cpu, faults), started = _usage(), time.monotonic()
        asset = await client.assets.upload(path, progress=progress)
        elapsed = time.monotonic() - started
        cpu_end, faults_end = _usage()
        hwm = _status_kib("VmHWM")
        # Once more: what a long-lived process (the app) sees from its second upload on.
        (cpu_again, _), started = _usage(), time.monotonic()
        await client.assets.upload(path)
        again = time.monotonic() - started
        cpu_again = _usage()[0] - cpu_again
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu_end - cpu,
        "minor_faults": faults_end - faults,
        "rss_before_kib": rss,
        "hwm_kib": hwm,
        "hwm_reset": reset,
        "asset_id": asset.id,
        "progress_last": seen[0],
        "again_elapsed_s": again,
        "again_cpu_s": cpu_again,
    }


async def plain(port: int, path: Path) -> dict[str, Any]:
    import httpx

    size = (await asyncio.to_thread(path.stat)).st_size

    async def body() -> Any:
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            while data := await asyncio.to_thread(handle.read, 8 * MIB):
                yield data
        finally:
            await asyncio.to_thread(handle.close)

    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as client:
        (cpu, _), started = _usage(), time.monotonic()
        response = await client.put(
            f"http://127.0.0.1:{port}/sink/plain",
            content=body(),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        elapsed, cpu = time.monotonic() - started, _usage()[0] - cpu
    response.raise_for_status()
    return {"elapsed_s": elapsed, "cpu_s": cpu}


def main(argv: list[str]) -> int:
    kind, port, path = argv[0], int(argv[1]), Path(argv[2])
    if len(argv) > 3:
        from bot.twelvelabs import formdata

        formdata.PIECE_SIZE = int(argv[3]) * 1024  # tuning experiments only
    job = gistbot if kind == "gistbot" else plain
    print(json.dumps(asyncio.run(job(port, path))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

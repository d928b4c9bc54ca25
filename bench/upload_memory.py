"""Peak memory and throughput of `gistbot gist <1 GiB file>` (the multipart upload path).

    .venv/bin/python -m bench.upload_memory [--size-mib 1024] [--chunk-mib 64]

1. Writes a valid mp4 padded to `--size-mib` into a temporary directory (deleted at the end).
2. Starts the fake TwelveLabs API in its own process, handing out `--chunk-mib` multipart
   chunks (the real API's chunk size is not documented; 64 MiB is a realistic S3-style size,
   the fake's own default is 5 MiB).
3. Runs `gistbot gist <file> --json` as a subprocess with an explicit environment and samples
   its RSS (with descendants) every `--sample-ms`; the kernel's high-water mark (VmHWM) read at
   each sample catches peaks between samples. Growth = peak − RSS at the first sample after
   the CLI printed its first
   "uploading" line (every import done, the client built, nothing uploaded yet).
4. Upload time comes from the fake's call log: arrival of the first chunk PUT to arrival of the
   last chunk report (which the client sends only after the last PUT is answered).
5. Raw loopback baseline: the same file PUT over loopback to a discarding aiohttp server
   (httpx, streamed in `--raw-piece-mib` pieces) and sent with `sock_sendfile` to a raw TCP
   sink, each in its own process; best of `--raw-repeats`.
Results: bench/out/upload_memory-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench._common import MIB, REPO, cli_env, machine_info, mib, write_result
from bench._proc import CliRun, Sample, Sampler, run_cli, start_child
from bot.twelvelabs.formdata import PIECE_SIZE
from bot.twelvelabs.multipart import MultipartSettings

GOAL_GROWTH_MIB = 64.0


def _default_fake_tmpdir() -> str:
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 3 * 1024**3:
            return str(shm)
    except OSError:
        pass
    return ""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.upload_memory", description=__doc__)
    p.add_argument("--size-mib", type=int, default=1024, help="video size (default 1024 = 1 GiB)")
    p.add_argument("--chunk-mib", type=float, default=64, help="multipart chunk size the fake uses")
    p.add_argument("--raw-piece-mib", type=float, default=8, help="piece size of the raw httpx PUT")
    p.add_argument("--raw-repeats", type=int, default=2)
    p.add_argument("--sample-ms", type=float, default=50.0)
    p.add_argument("--timeout", type=float, default=600.0, help="limit for the CLI run (s)")
    p.add_argument("--workdir", type=Path, default=None, help="parent of the temporary directory")
    p.add_argument(
        "--fake-tmpdir",
        default=_default_fake_tmpdir(),
        help="TMPDIR of the fake, where it stores received chunks (default: /dev/shm when it has "
        "room, so the fake's disk writes don't throttle the upload; '' = the system default)",
    )
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------- helpers


def _fetch_calls(origin: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{origin}/_fake/calls", timeout=30) as resp:
        calls: list[dict[str, Any]] = json.load(resp)
    return calls


def _at_or_after(samples: list[Sample], t: float) -> Sample | None:
    return next((s for s in samples if s.t >= t), None)


def _at_or_before(samples: list[Sample], t: float) -> Sample | None:
    before = [s for s in samples if s.t <= t]
    return before[-1] if before else None


def _cpu_share(samples: list[Sample], t0: float, t1: float) -> float | None:
    """CPU seconds used per wall second between t0 and t1 (1.0 = one core busy)."""
    a, b = _at_or_before(samples, t0), _at_or_before(samples, t1)
    if a is None or b is None or b.t <= a.t:
        return None
    return round((b.cpu_s - a.cpu_s) / (b.t - a.t), 2)


def _phases(run: CliRun) -> dict[str, float | None]:
    return {
        "uploading": run.first_stderr("uploading"),
        "processing": run.first_stderr("processing"),
        "analysing": run.first_stderr("analysing"),
        "result": run.stdout_first_at,
    }


def _phase_at(phases: dict[str, float | None], t: float | None) -> str | None:
    if t is None:
        return None
    current = "start"
    for name, began in phases.items():
        if began is not None and t >= began:
            current = name
    return current


def _peak_between(samples: list[Sample], t0: float | None, t1: float | None) -> int | None:
    if t0 is None:
        return None
    inside = [s.rss for s in samples if s.t >= t0 and (t1 is None or s.t < t1)]
    return max(inside) if inside else None


# ---------------------------------------------------------------------------------- gistbot


def measure_gistbot(video: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    api_key = "tl-bench-" + secrets.token_hex(4)
    chunk_size = int(args.chunk_mib * MIB)
    fake = start_child(
        "fake TwelveLabs",
        [
            sys.executable,
            "-m",
            "tests.fakes.twelvelabs",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            api_key,
            "--asset-seconds",
            "1",
            "--task-seconds",
            "1",
            "--index-seconds",
            "1",
            "--chunk-size",
            str(chunk_size),
        ],
        cwd=REPO,
        stderr_path=workdir / "fake.stderr",
        env={**os.environ, "TMPDIR": args.fake_tmpdir} if args.fake_tmpdir else None,
    )
    base_url = fake.first_line
    origin = base_url.removesuffix("/v1.3")
    fake_sampler = Sampler(fake.pid, args.sample_ms / 1000)
    fake_sampler.start()
    try:
        env = cli_env(
            api_key,
            base_url,
            # Short polls so the run ends soon after the upload; polling is not measured here.
            {"GIST_POLL_INITIAL_S": "0.2", "GIST_POLL_MAX_INTERVAL_S": "1"},
        )
        run = run_cli(
            ["gist", str(video), "--json"],
            env=env,
            cwd=workdir,
            timeout_s=args.timeout,
            sample_interval_s=args.sample_ms / 1000,
        )
        calls = _fetch_calls(origin)
        minimal = [
            asyncio.run(
                asyncio.wait_for(
                    _minimal_multipart(
                        video, base_url, api_key, MultipartSettings().concurrency, args
                    ),
                    timeout=300,
                )
            )
            for _ in range(max(1, args.raw_repeats))
        ]
    finally:
        fake_sampler.stop.set()
        fake_sampler.join(5)
        fake.stop()

    if run.returncode != 0 or run.timed_out:
        tail = "\n".join(line for _, line in run.stderr_lines[-15:])
        raise RuntimeError(f"gistbot exited {run.returncode} (timed out: {run.timed_out}):\n{tail}")
    gist = run.json_out() or {}

    # -- memory
    samples = run.samples
    phases = _phases(run)
    start_upload = phases["uploading"]
    base = _at_or_after(samples, start_upload) if start_upload is not None else None
    if base is None:
        raise RuntimeError("no RSS sample after the CLI started uploading")
    # Only samples from the baseline on: one taken between vfork() and exec() would show the
    # benchmark's own memory (the child shares it until exec).
    after = [s for s in samples if s.t >= base.t]
    peak_sampled = max(s.rss for s in after)
    peak_at = next(s.t for s in after if s.rss == peak_sampled)
    order = ["uploading", "processing", "analysing", "result"]
    hwms = [s for s in after if s.hwm is not None]
    hwm_max = max((s.hwm or 0) for s in hwms) if hwms else None
    hwm_at = next((s.t for s in hwms if s.hwm == hwm_max), None)
    peak = max(hwm_max or 0, peak_sampled)
    per_phase = {
        name: mib(_peak_between(samples, phases[name], phases[order[i + 1]] if i < 3 else None))
        for i, name in enumerate(order)
    }

    # -- upload window, from the fake's call log
    puts = [c for c in calls if c["method"] == "PUT" and c["template"] == "/_upload"]
    reports = [
        c
        for c in calls
        if c["method"] == "POST" and c["template"] == "/assets/multipart-uploads/{id}"
    ]
    if not puts or not reports:
        raise RuntimeError("the fake saw no multipart upload (is the file over 200 MB?)")
    t0 = min(c["at"] for c in puts)
    t1 = max(c["at"] for c in reports)
    uploaded = sum(int(c["body"] or 0) for c in puts if c["status"] == 200)
    window = t1 - t0
    by_endpoint = Counter(f"{c['method']} {c['template']}" for c in calls)
    cli_window = (
        (phases["processing"] - phases["uploading"])
        if phases["processing"] is not None and phases["uploading"] is not None
        else None
    )
    best = min(minimal)
    return {
        "minimal_client": {
            "runs_s": [round(t, 3) for t in minimal],
            "best_s": round(best, 3),
            "mib_per_s": round(video.stat().st_size / MIB / best, 1),
            "concurrency": MultipartSettings().concurrency,
            "piece_mib": args.raw_piece_mib,
        },
        "chunk_size": chunk_size,
        "returncode": run.returncode,
        "cli_wall_s": round(run.ended - run.started, 2),
        "cli_cpu_s": round((run.cpu_user_s or 0) + (run.cpu_sys_s or 0), 2),
        "asset_id": (gist.get("video") or {}).get("asset_id"),
        "rss": {
            "first_sample_mib": mib(samples[0].rss),
            "baseline_mib": mib(base.rss),
            "baseline_at_s": round(base.t - run.started, 2),
            "peak_sampled_mib": mib(peak_sampled),
            "peak_sampled_at_s": round(peak_at - run.started, 2),
            "peak_mib": mib(peak),
            "growth_sampled_mib": mib(peak_sampled - base.rss),
            "growth_mib": mib(peak - base.rss),
            "peak_per_phase_mib": per_phase,
            # VmHWM (the kernel's RSS high-water mark for the CLI process) as last read, and
            # when it first reached that value.
            "hwm_mib": mib(hwm_max),
            "hwm_reached_at_s": round(hwm_at - run.started, 2) if hwm_at is not None else None,
            "hwm_reached_in_phase": _phase_at(phases, hwm_at),
            "samples": len(samples),
        },
        "upload": {
            "bytes": uploaded,
            "chunks": len({c["path"] for c in puts if c["status"] == 200}),
            "chunk_puts": len(puts),
            "failed_puts": sum(1 for c in puts if c["status"] != 200),
            "report_calls": len(reports),
            "window_s": round(window, 3),
            "mib_per_s": round(uploaded / MIB / window, 1) if window > 0 else None,
            "cli_progress_window_s": round(cli_window, 3) if cli_window is not None else None,
            "cli_cpu_share": _cpu_share(samples, t0, t1),
            "fake_cpu_share": _cpu_share(fake_sampler.samples, t0, t1),
        },
        "calls_by_endpoint": dict(sorted(by_endpoint.items())),
        "phases_s": {k: (round(v - run.started, 2) if v else None) for k, v in phases.items()},
        "timeline": [
            {"t": round(s.t - run.started, 2), "rss_mib": mib(s.rss), "cpu_s": round(s.cpu_s, 2)}
            for s in samples[:: max(1, int(500 / args.sample_ms))]
        ],
    }


# ---------------------------------------------------------------------------------- raw copy


async def _minimal_multipart(
    video: Path, base_url: str, api_key: str, concurrency: int, args: argparse.Namespace
) -> float:
    elapsed, asset_id = await _minimal_upload(video, base_url, api_key, concurrency, args)
    # Let the fake finish hashing and probing this upload before anything else is timed.
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            asset = await client.get(
                f"{base_url}/assets/{asset_id}", headers={"x-api-key": api_key}
            )
            if asset.json().get("status") in ("ready", "failed"):
                break
            await asyncio.sleep(0.2)
    return elapsed


async def _minimal_upload(
    video: Path, base_url: str, api_key: str, concurrency: int, args: argparse.Namespace
) -> tuple[float, str]:
    """The same multipart upload to the same fake with a bare httpx loop: no retries, no
    progress, reads of `--raw-piece-mib`. Timed from the first PUT to the report's answer."""
    size = (await asyncio.to_thread(video.stat)).st_size
    piece = int(args.raw_piece_mib * MIB)
    auth = {"x-api-key": api_key}
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0)) as client:
        created = (
            await client.post(
                f"{base_url}/assets/multipart-uploads",
                headers=auth,
                json={"filename": video.name, "type": "video", "total_size": size},
            )
        ).json()
        upload_id, chunk, total = (
            created["upload_id"],
            created["chunk_size"],
            created["total_chunks"],
        )
        urls = {u["chunk_index"]: u["url"] for u in created["upload_urls"]}
        while len(urls) < total:
            start = min(i for i in range(1, total + 1) if i not in urls)
            more = await client.post(
                f"{base_url}/assets/multipart-uploads/{upload_id}/presigned-urls",
                headers=auth,
                json={"start": start, "count": min(50, total - start + 1)},
            )
            urls.update({u["chunk_index"]: u["url"] for u in more.json()["upload_urls"]})
        fd = await asyncio.to_thread(os.open, video, os.O_RDONLY)
        queue = list(range(total, 0, -1))
        done: list[dict[str, Any]] = []

        async def body(offset: int, length: int) -> Any:
            sent = 0
            while sent < length:
                data = await asyncio.to_thread(
                    os.pread, fd, min(piece, length - sent), offset + sent
                )
                sent += len(data)
                yield data

        async def worker() -> None:
            while queue:
                index = queue.pop()
                offset = (index - 1) * chunk
                length = min(chunk, size - offset)
                response = await client.put(
                    urls[index],
                    content=body(offset, length),
                    headers={"Content-Length": str(length)},
                )
                response.raise_for_status()
                etag = response.headers["ETag"].strip('"')
                done.append(
                    {
                        "chunk_index": index,
                        "proof": etag,
                        "proof_type": "etag",
                        "chunk_size": length,
                    }
                )

        try:
            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            report = await client.post(
                f"{base_url}/assets/multipart-uploads/{upload_id}",
                headers=auth,
                json={"completed_chunks": sorted(done, key=lambda d: int(d["chunk_index"]))},
            )
            elapsed = time.monotonic() - started
        finally:
            await asyncio.to_thread(os.close, fd)
    report.raise_for_status()
    if report.json().get("total_completed") != total:
        raise RuntimeError(f"minimal multipart upload incomplete: {report.text}")
    return elapsed, str(created["asset_id"])


async def _raw_httpx(video: Path, port: int, piece: int) -> float:
    size = (await asyncio.to_thread(video.stat)).st_size

    async def body() -> Any:
        handle = await asyncio.to_thread(video.open, "rb")
        try:
            while data := await asyncio.to_thread(handle.read, piece):
                yield data
        finally:
            await asyncio.to_thread(handle.close)

    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as client:
        started = time.monotonic()
        response = await client.put(
            f"http://127.0.0.1:{port}/sink",
            content=body(),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        elapsed = time.monotonic() - started
    response.raise_for_status()
    if response.json().get("received") != size:
        raise RuntimeError(f"raw httpx copy: the sink got {response.text}, expected {size}")
    return elapsed


async def _raw_sendfile(video: Path, port: int) -> float:
    size = (await asyncio.to_thread(video.stat)).st_size
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        handle = await asyncio.to_thread(video.open, "rb")
        try:
            started = time.monotonic()
            await loop.sock_sendall(sock, size.to_bytes(8, "big"))
            await loop.sock_sendfile(sock, handle)
            ack = await loop.sock_recv(sock, 2)
            elapsed = time.monotonic() - started
        finally:
            await asyncio.to_thread(handle.close)
    finally:
        sock.close()
    if ack != b"OK":
        raise RuntimeError(f"raw sendfile copy: the sink answered {ack!r}")
    return elapsed


def measure_raw(video: Path, args: argparse.Namespace) -> dict[str, Any]:
    sink = start_child("sink", [sys.executable, "-m", "bench._sink"], cwd=REPO)
    http_port, tcp_port = (int(x) for x in sink.first_line.split())
    size = video.stat().st_size
    runs: dict[str, list[float]] = {"httpx": [], "sendfile": []}
    try:
        for _ in range(max(1, args.raw_repeats)):
            runs["httpx"].append(
                asyncio.run(
                    asyncio.wait_for(
                        _raw_httpx(video, http_port, int(args.raw_piece_mib * MIB)), timeout=300
                    )
                )
            )
            runs["sendfile"].append(
                asyncio.run(asyncio.wait_for(_raw_sendfile(video, tcp_port), timeout=300))
            )
    finally:
        sink.stop()
    out: dict[str, Any] = {}
    for name, times in runs.items():
        best = min(times)
        out[name] = {
            "runs_s": [round(t, 3) for t in times],
            "best_s": round(best, 3),
            "mib_per_s": round(size / MIB / best, 1),
        }
    out["httpx"]["piece_mib"] = args.raw_piece_mib
    return out


# ---------------------------------------------------------------------------------- main


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    from tests.videos import make_padded_video

    size = args.size_mib * MIB
    workdir = Path(tempfile.mkdtemp(prefix="gistbot-bench-upload-", dir=args.workdir))
    try:
        t = time.monotonic()
        video = make_padded_video(workdir / "big.mp4", size)
        made_s = time.monotonic() - t
        print(f"upload_memory: wrote {args.size_mib} MiB video in {made_s:.1f}s", file=sys.stderr)
        gistbot = measure_gistbot(video, args, workdir)
        print("upload_memory: gistbot run done; raw loopback copy…", file=sys.stderr)
        raw = measure_raw(video, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rate = gistbot["upload"]["mib_per_s"]
    growth = gistbot["rss"]["growth_mib"]
    result: dict[str, Any] = {
        "benchmark": "upload_memory",
        "command": "python -m bench.upload_memory " + " ".join(argv or []),
        "machine": machine_info(),
        "params": {
            "size_bytes": size,
            "multipart_chunk_size": gistbot["chunk_size"],
            "client_concurrency": MultipartSettings().concurrency,
            "client_read_piece": PIECE_SIZE,
            "sample_ms": args.sample_ms,
            "fake_tmpdir": args.fake_tmpdir or tempfile.gettempdir(),
        },
        "gistbot": gistbot,
        "raw": raw,
        "ratio_vs_raw_httpx": round(rate / raw["httpx"]["mib_per_s"], 3) if rate else None,
        "ratio_vs_raw_sendfile": round(rate / raw["sendfile"]["mib_per_s"], 3) if rate else None,
        "ratio_vs_minimal_client": (
            round(rate / gistbot["minimal_client"]["mib_per_s"], 3) if rate else None
        ),
        "goal": {
            "rss_growth_mib_max": GOAL_GROWTH_MIB,
            "rss_growth_mib": growth,
            "met": growth is not None and growth <= GOAL_GROWTH_MIB,
        },
    }
    result["output"] = str(write_result("upload_memory", result))
    return result


def summary(result: dict[str, Any]) -> str:
    g = result["gistbot"]
    rss, up, raw = g["rss"], g["upload"], result["raw"]
    goal = result["goal"]
    return "\n".join(
        [
            f"upload_memory  ({result['params']['size_bytes'] // MIB} MiB, "
            f"{result['params']['multipart_chunk_size'] / MIB:g} MiB chunks, "
            f"{result['params']['client_concurrency']} in flight)",
            f"  RSS baseline {rss['baseline_mib']} MiB → peak {rss['peak_mib']} MiB "
            f"(sampled {rss['peak_sampled_mib']}): growth {rss['growth_mib']} MiB "
            f"[goal ≤ {goal['rss_growth_mib_max']:g}: {'OK' if goal['met'] else 'MISSED'}]",
            f"  upload {up['bytes'] / MIB:.0f} MiB in {up['window_s']} s = {up['mib_per_s']} MiB/s"
            f" (CLI CPU {up['cli_cpu_share']}, fake CPU {up['fake_cpu_share']} cores)",
            f"  raw loopback: httpx {raw['httpx']['mib_per_s']} MiB/s, "
            f"sendfile {raw['sendfile']['mib_per_s']} MiB/s → gistbot/raw = "
            f"{result['ratio_vs_raw_httpx']} (httpx), {result['ratio_vs_raw_sendfile']} (sendfile)",
            f"  same fake, bare httpx multipart client: {g['minimal_client']['mib_per_s']} MiB/s"
            f" → gistbot/bare = {result['ratio_vs_minimal_client']}",
            f"  CLI wall {g['cli_wall_s']} s; results: {result['output']}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    result = run(argv)
    print(summary(result))
    return 0 if result["goal"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

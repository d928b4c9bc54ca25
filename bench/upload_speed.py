"""Upload throughput: gistbot's client against curl, to the same loopback sink, same run.

    .venv/bin/python -m bench.upload_speed [--size-mib 1024] [--direct-mib 150]
        [--chunk-mib 64] [--repeats 3] [--modes direct,multipart]

The sink (`bench._fast_sink`, its own process) discards bytes into one reused buffer and
answers just enough of the TwelveLabs upload API. Per repeat and mode, alternating:

- gistbot: `client.assets.upload(path)` with production settings (direct ≤ 200 MB, else
  multipart with 3 chunks in flight), in a fresh process of its own (`bench/_upload_child.py`),
  with a progress callback like the app's, after an untimed 4 KiB upload (a process's first
  request pays ~20 ms of lazy imports). Timed inside that process around the call; its CPU
  time over the same span; peak RSS growth = VmHWM after the upload (the high-water mark
  reset just before it through /proc/self/clear_refs) − RSS before it. The ratio uses this
  first big upload; the same upload once more in that process (`gistbot_second_upload`) is
  what the long-lived app sees.
- curl: direct as `curl -F method=direct -F file=@…` (a multipart/form-data POST to the same
  route); multipart as one `curl -T` PUT of the whole file (line rate, one stream). Timed by
  curl's own `time_total`; CPU from the child's rusage.
- plain: the same file as one streamed PUT by a bare httpx loop (8 MiB reads), for context.
- before (with `--before DIR`): gistbot's upload from another source tree, e.g.
  `git archive <commit> bot | tar -x -C DIR`, interleaved with the rest.

The Python uploads run `bench/_upload_child.py` with `PYTHONPATH` set to the source tree.

Files are written once to a temporary directory and read once before measuring, so every
reader gets them from the page cache. Ratio = gistbot MiB/s ÷ curl MiB/s (median of the
repeats; best ÷ best too). Goal: ≥ 0.8 for both modes, peak growth ≤ 64 MiB for 1 GiB. The
load average is recorded. Results: bench/out/upload_speed-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._common import MIB, REPO, machine_info, write_result
from bench._proc import start_child

NAME = "upload_speed"
CHILD = REPO / "bench" / "_upload_child.py"
GOAL_RATIO = 0.8
GOAL_GROWTH_MIB = 64.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.upload_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--size-mib", type=int, default=1024, help="multipart file size")
    p.add_argument("--direct-mib", type=int, default=150, help="direct upload file size")
    p.add_argument("--chunk-mib", type=float, default=64, help="the sink's multipart chunk size")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modes", default="direct,multipart")
    p.add_argument("--no-plain", action="store_true", help="skip the bare httpx PUT")
    p.add_argument("--workdir", type=Path, default=None, help="parent of the temporary files")
    p.add_argument("--timeout", type=float, default=300.0, help="per upload (s)")
    p.add_argument(
        "--piece-kib", type=int, default=None, help="override the client's read piece (tuning)"
    )
    p.add_argument(
        "--before",
        type=Path,
        default=None,
        help="also measure the `bot` package of this source tree (e.g. an older commit's "
        "`git archive`), interleaved: a before/after in one run",
    )
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- in the parent


def _python_child(
    kind: str, port: int, path: Path, args: argparse.Namespace, src: Path = REPO
) -> dict[str, Any]:
    argv = [sys.executable, str(CHILD), kind, str(port), str(path)]
    if args.piece_kib:
        argv.append(str(args.piece_kib))
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        argv, cwd=src, env=env, capture_output=True, text=True, timeout=args.timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} upload failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _curl(mode: str, port: int, path: Path, timeout_s: float) -> dict[str, Any]:
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total} %{size_upload}"]
    argv += ["-H", "Expect:"]  # both clients send the body at once
    if mode == "direct":
        argv += ["-F", "method=direct", "-F", f"file=@{path};type=video/mp4"]
        argv.append(f"http://127.0.0.1:{port}/v1.3/assets")
    else:
        argv += ["-T", str(path), f"http://127.0.0.1:{port}/sink/curl"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"curl failed ({done.returncode}): {done.stderr[-500:]}")
    total_s, sent = done.stdout.split()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"elapsed_s": float(total_s), "cpu_s": cpu, "bytes": int(float(sent))}


def _speeds(runs: list[dict[str, Any]], size: int) -> dict[str, Any]:
    rates = [size / MIB / r["elapsed_s"] for r in runs]
    cores = [r["cpu_s"] / r["elapsed_s"] for r in runs]
    return {
        "mib_per_s_median": round(statistics.median(rates), 1),
        "mib_per_s_best": round(max(rates), 1),
        "mib_per_s_runs": [round(x, 1) for x in rates],
        "cpu_cores_median": round(statistics.median(cores), 2),
    }


def measure(mode: str, path: Path, port: int, args: argparse.Namespace) -> dict[str, Any]:
    size = path.stat().st_size
    runs: dict[str, list[dict[str, Any]]] = {"gistbot": [], "curl": [], "plain": [], "before": []}
    loads: list[list[float]] = []
    for i in range(max(1, args.repeats)):
        loads.append([round(x, 2) for x in os.getloadavg()])
        order = ["gistbot", "curl"] if i % 2 == 0 else ["curl", "gistbot"]
        if args.before is not None:
            order.append("before")
        if not args.no_plain:
            order.append("plain")
        for who in order:
            if who == "curl":
                runs["curl"].append(_curl(mode, port, path, args.timeout))
            elif who == "before":
                runs[who].append(_python_child("gistbot", port, path, args, args.before))
            else:
                runs[who].append(_python_child(who, port, path, args))
        print(
            f"upload_speed: {mode} {i + 1}/{args.repeats}: "
            + ", ".join(
                f"{k} {size / MIB / v[-1]['elapsed_s']:.0f} MiB/s" for k, v in runs.items() if v
            ),
            file=sys.stderr,
        )
    mine, curl = _speeds(runs["gistbot"], size), _speeds(runs["curl"], size)
    growth = [
        (r["hwm_kib"] - r["rss_before_kib"]) / 1024 for r in runs["gistbot"] if r["hwm_reset"]
    ]
    again = [
        {"elapsed_s": r["again_elapsed_s"], "cpu_s": r["again_cpu_s"]}
        for r in runs["gistbot"]
        if "again_elapsed_s" in r
    ]
    out: dict[str, Any] = {
        "mode": mode,
        "size_mib": round(size / MIB, 1),
        "loadavg_per_repeat": loads,
        "gistbot": {**mine, "peak_growth_mib_max": round(max(growth), 1) if growth else None},
        "curl": curl,
        "ratio_vs_curl_median": round(mine["mib_per_s_median"] / curl["mib_per_s_median"], 3),
        "ratio_vs_curl_best": round(mine["mib_per_s_best"] / curl["mib_per_s_best"], 3),
        "runs": runs,
    }
    if again:
        warm = _speeds(again, size)
        warm["ratio_vs_curl_median"] = round(warm["mib_per_s_median"] / curl["mib_per_s_median"], 3)
        out["gistbot_second_upload"] = warm
    if runs["plain"]:
        out["plain_httpx_put"] = _speeds(runs["plain"], size)
    if runs["before"]:
        before = _speeds(runs["before"], size)
        grown = [(r["hwm_kib"] - r["rss_before_kib"]) / 1024 for r in runs["before"]]
        before["peak_growth_mib_max"] = round(max(grown), 1)
        before["ratio_vs_curl_median"] = round(
            before["mib_per_s_median"] / curl["mib_per_s_median"], 3
        )
        out["before"] = before
    out["goal"] = {
        "ratio_ge_0_8": out["ratio_vs_curl_median"] >= GOAL_RATIO,
        "growth_le_64_mib": bool(growth) and max(growth) <= GOAL_GROWTH_MIB,
    }
    return out


def _make_files(workdir: Path, args: argparse.Namespace, modes: list[str]) -> dict[str, Path]:
    from tests.videos import make_padded_video

    files: dict[str, Path] = {}
    if "direct" in modes:
        files["direct"] = make_padded_video(workdir / "direct.mp4", args.direct_mib * MIB)
    if "multipart" in modes:
        files["multipart"] = make_padded_video(workdir / "multipart.mp4", args.size_mib * MIB)
    for path in files.values():  # into the page cache
        with path.open("rb") as f:
            while f.read(8 * MIB):
                pass
    return files


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="bench-upload-speed-", dir=args.workdir))
    started = time.monotonic()
    machine = machine_info()
    try:
        files = _make_files(workdir, args, modes)
        sink = start_child(
            "sink",
            [sys.executable, "-m", "bench._fast_sink", "--chunk-mib", str(args.chunk_mib)],
            cwd=REPO,
        )
        try:
            port = int(sink.first_line)
            results = [measure(mode, files[mode], port, args) for mode in modes]
        finally:
            sink.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    data: dict[str, Any] = {
        "benchmark": NAME,
        "command": "python -m bench.upload_speed " + " ".join(argv or sys.argv[1:]),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.monotonic() - started, 1),
        "modes": results,
    }
    data["output"] = str(write_result(NAME, data))
    return data


def summary(data: dict[str, Any]) -> str:
    out = [
        f"upload_speed  (load avg {data['machine']['loadavg_1_5_15']} → {data['loadavg_at_end']})"
    ]
    for r in data["modes"]:
        g, c = r["gistbot"], r["curl"]
        plain, before = r.get("plain_httpx_put"), r.get("before")
        out += [
            f"  {r['mode']:<9} {r['size_mib']:g} MiB: gistbot {g['mib_per_s_median']} MiB/s "
            f"(best {g['mib_per_s_best']}, {g['cpu_cores_median']} cores, peak growth "
            f"{g['peak_growth_mib_max']} MiB); curl {c['mib_per_s_median']} MiB/s (best "
            f"{c['mib_per_s_best']}, {c['cpu_cores_median']} cores)"
            + (f"; plain httpx PUT {plain['mib_per_s_median']} MiB/s" if plain else "")
            + (
                f"; before: {before['mib_per_s_median']} MiB/s ({before['cpu_cores_median']} "
                f"cores, ratio {before['ratio_vs_curl_median']}, peak growth "
                f"{before['peak_growth_mib_max']} MiB)"
                if before
                else ""
            ),
            (
                f"            gistbot's second upload in the same process: "
                f"{r['gistbot_second_upload']['mib_per_s_median']} MiB/s, ratio "
                f"{r['gistbot_second_upload']['ratio_vs_curl_median']}"
                if "gistbot_second_upload" in r
                else ""
            ),
            f"            ratio gistbot/curl: median {r['ratio_vs_curl_median']}, best "
            f"{r['ratio_vs_curl_best']} → goal {'MET' if all(r['goal'].values()) else 'NOT met'}"
            f" {r['goal']}; load per repeat {r['loadavg_per_repeat']}",
        ]
    out.append(f"  results: {data['output']}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    print(summary(run(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

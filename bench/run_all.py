"""Run the benchmarks one after the other and print one summary.

    .venv/bin/python -m bench.run_all [--polling-runs 3] [--upload-size-mib 1024]
                                      [--upload-chunk-mib 64] [--only upload|polling]

About 4–5 minutes with the defaults (the polling runs are ≥ 60 s each). Writes each benchmark's
JSON to bench/out/ plus bench/out/run_all-*.json holding both. Exit status 1 when a goal is
missed (peak RSS growth of the upload over 64 MiB).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import polling_cost, upload_memory
from bench._common import machine_info, write_result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    p.add_argument("--polling-runs", type=int, default=3)
    p.add_argument("--upload-size-mib", type=int, default=1024)
    p.add_argument("--upload-chunk-mib", type=float, default=64)
    p.add_argument("--only", choices=("upload", "polling"), default=None)
    args = p.parse_args(argv)

    started = time.monotonic()
    results: dict[str, Any] = {"benchmark": "run_all", "machine": machine_info()}
    summaries: list[str] = []
    ok = True
    if args.only in (None, "upload"):
        up = upload_memory.run(
            ["--size-mib", str(args.upload_size_mib), "--chunk-mib", str(args.upload_chunk_mib)]
        )
        results["upload_memory"] = up
        summaries.append(upload_memory.summary(up))
        ok = ok and bool(up["goal"]["met"])
    if args.only in (None, "polling"):
        poll = polling_cost.run(["--runs", str(args.polling_runs)])
        results["polling_cost"] = poll
        summaries.append(polling_cost.summary(poll))
    results["wall_s"] = round(time.monotonic() - started, 1)
    path = write_result("run_all", results)
    print()
    print("\n\n".join(summaries))
    print(f"\nall results: {path} ({results['wall_s']} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

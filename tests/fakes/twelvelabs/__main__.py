"""Run the fake TwelveLabs API standalone: prints its base URL, serves until SIGINT/SIGTERM.

python -m tests.fakes.twelvelabs --host 127.0.0.1 --port 8787 --api-key tl-local [--chaos 0.15]
    [--rate-limit 20]

`--chaos P` makes a share P of API requests fail at random (`/_fake/chaos` reads or changes it).
`--rate-limit N` answers 429 with Retry-After beyond N API calls a second (a token bucket).
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from tests.fakes.chaos import add_cli_options, cli_settings
from tests.fakes.twelvelabs.server import FakeTwelveLabs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.twelvelabs", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default="tl-test-key")
    parser.add_argument("--asset-seconds", type=float, default=2.0, help="asset processing time")
    parser.add_argument("--task-seconds", type=float, default=3.0, help="analysis task time")
    parser.add_argument("--index-seconds", type=float, default=3.0, help="indexing time")
    parser.add_argument("--chunk-size", type=int, default=5 * 1024 * 1024)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per response")
    parser.add_argument(
        "--rate-limit", type=float, default=None, help="API calls per second (429 beyond it)"
    )
    add_cli_options(parser)
    args = parser.parse_args(argv)

    fake = FakeTwelveLabs(
        api_key=args.api_key,
        asset_processing_s=args.asset_seconds,
        task_processing_s=args.task_seconds,
        index_processing_s=args.index_seconds,
        multipart_chunk_size=args.chunk_size,
        latency_s=args.latency,
        rate_limit_per_s=args.rate_limit,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(fake.start(args.host, args.port), flush=True)
    chaos = cli_settings(args)
    if chaos is not None:
        fake.chaos(**chaos)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

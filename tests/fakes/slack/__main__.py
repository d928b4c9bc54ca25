"""Run the fake Slack on its own: ``python -m tests.fakes.slack --port 8001``.

Point the app at it with ``SLACK_API_URL=<base>api/`` and ``SLACK_BOT_TOKEN=<token>``;
``GET <base>_fake/state`` shows what the bot posted. ``--chaos 0.15`` makes 15 % of requests
fail at random (``GET/POST/DELETE <base>_fake/chaos`` reads, changes or ends it).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from tests.fakes.chaos import add_cli_options, cli_settings

from .server import FakeSlack


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.slack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--bot-token", default="xoxb-test-token")
    parser.add_argument("--team-id", default="T0001")
    parser.add_argument("--bot-user-id", default="UBOT")
    parser.add_argument("--bot-id", default="BBOT")
    parser.add_argument("--quiet", action="store_true", help="do not log each API call")
    add_cli_options(parser)
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
    )
    fake = FakeSlack(
        bot_token=args.bot_token,
        team_id=args.team_id,
        bot_user_id=args.bot_user_id,
        bot_id=args.bot_id,
    )
    base = fake.start(host=args.host, port=args.port)
    chaos = cli_settings(args)
    if chaos is not None:
        fake.chaos(**chaos)
    print(base, flush=True)
    print(f"SLACK_API_URL={fake.api_url}", flush=True)
    print(f"SLACK_BOT_TOKEN={args.bot_token}", flush=True)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        done.wait()
    finally:
        fake.stop()


if __name__ == "__main__":
    main()

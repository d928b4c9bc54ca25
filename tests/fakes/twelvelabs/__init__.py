"""A fake TwelveLabs API v1.3 on loopback, for tests and local runs.

    from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
    fake = FakeTwelveLabs(api_key="tl-test-key", task_processing_s=0.2)
    base_url = fake.start()            # "http://127.0.0.1:PORT/v1.3"
    fake.add_fault(Fault(method="POST", path="/assets", kind="429", retry_after="1"))
    ...
    fake.stop()

Knobs are attributes (and constructor kwargs); `calls`, `assets`, `tasks`, `indexes`,
`indexed_assets` and `uploads` expose what the server saw. `python -m tests.fakes.twelvelabs`
runs it standalone; `/_fake/*` is an HTTP control surface for other processes.

Chaos mode (`tests/fakes/chaos.py`): `fake.chaos(p=0.15, seed=1)` makes a seeded share of API
calls fail at random (429 with and without Retry-After, 5xx, dropped connections, failures after
the call took effect, 2–4 s stalls); `fake.chaos_counts()` / `fake.chaos_report()` count them;
`fake.chaos(None)` ends it. Over HTTP: `GET/POST/DELETE /_fake/chaos`.

Rate limit: `FakeTwelveLabs(rate_limit_per_s=20)` answers 429 (with `Retry-After`, or the empty
body with `rate_limit_retry_after=False`) to API calls beyond a token bucket of 20 a second
(`rate_limit_burst` deep); `fake.rate_limited` counts them.
"""

from tests.fakes.twelvelabs.server import KNOBS, FakeTwelveLabs
from tests.fakes.twelvelabs.state import FAULT_KINDS, Call, Fault

__all__ = ["FAULT_KINDS", "KNOBS", "Call", "FakeTwelveLabs", "Fault"]

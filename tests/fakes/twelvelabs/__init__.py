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
"""

from tests.fakes.twelvelabs.server import KNOBS, FakeTwelveLabs
from tests.fakes.twelvelabs.state import FAULT_KINDS, Call, Fault

__all__ = ["FAULT_KINDS", "KNOBS", "Call", "FakeTwelveLabs", "Fault"]

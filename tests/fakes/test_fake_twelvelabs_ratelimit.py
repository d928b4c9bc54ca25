"""The fake TwelveLabs' account rate limit: a token bucket over API calls answering 429."""

from __future__ import annotations

import httpx

from tests.fakes.tl_helpers import api_client
from tests.fakes.twelvelabs import FakeTwelveLabs


def _create(api: httpx.Client) -> httpx.Response:
    return api.post("/assets", files={"method": (None, "url"), "url": (None, "http://x/y.mp4")})


def test_calls_beyond_the_bucket_get_429_with_retry_after(fake: FakeTwelveLabs) -> None:
    # One token a minute, three in the bucket: the fourth call within the test is refused.
    fake.configure(rate_limit_per_s=1 / 60, rate_limit_burst=3)
    with api_client(fake) as api:
        assert [api.get("/indexes").status_code for _ in range(3)] == [200, 200, 200]
        refused = _create(api)
        assert refused.status_code == 429
        assert refused.json()["code"] == "too_many_requests"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60  # until the next token
        assert not fake.assets  # a refused call does nothing
        # The control surface is not the API: never limited.
        assert httpx.get(f"{fake.origin}/_fake/config").json()["rate_limit_burst"] == 3

        fake.configure(rate_limit_retry_after=False)
        empty = api.get("/indexes")
        assert empty.status_code == 429 and empty.content == b""
        assert "Retry-After" not in empty.headers

        assert fake.rate_limited == 2
        assert [c.status for c in fake.calls] == [200, 200, 200, 429, 429]

        fake.configure(rate_limit_per_s=1e9)  # refills at once
        assert _create(api).status_code == 201 and len(fake.assets) == 1
        fake.configure(rate_limit_per_s=None)
        assert all(api.get("/indexes").status_code == 200 for _ in range(10))


def test_reset_refills_the_bucket(fake: FakeTwelveLabs) -> None:
    fake.configure(rate_limit_per_s=1 / 60)  # a bucket of one (at least one call a burst)
    with api_client(fake) as api:
        assert [api.get("/indexes").status_code for _ in range(2)] == [200, 429]
        fake.reset()
        assert fake.rate_limited == 0 and not fake.calls
        assert api.get("/indexes").status_code == 200

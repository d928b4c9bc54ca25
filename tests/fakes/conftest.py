"""Fixtures of the fake TwelveLabs tests: a started fake (`fake`) and an API client (`api`).

The fake Slack tests define their own `fake`, which wins in their modules.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.tl_helpers import api_client, started_fake
from tests.fakes.twelvelabs import FakeTwelveLabs


@pytest.fixture
def fake() -> Iterator[FakeTwelveLabs]:
    with started_fake() as server:
        yield server


@pytest.fixture
def api(fake: FakeTwelveLabs) -> Iterator[httpx.Client]:
    with api_client(fake) as client:
        yield client

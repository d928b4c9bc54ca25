"""Creates that fail ambiguously are looked up before they are repeated: never a duplicate.

For every create the client makes — an asset by URL, a direct upload, a multipart upload
session, an indexed asset, an index, an analysis task — against the fake on loopback:

- done on the server but answered 502 ("error-after"), or with the connection dropped after
  the work ("drop-after"): the look-up finds it; exactly one exists and the call returns it;
- refused with a 503 before anything was done, or dropped before it was handled ("drop"): the
  look-up finds nothing, so it is created again, exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.twelvelabs import REQUEST_KEY, TwelveLabsClient, errors
from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.twelvelabs.conftest import Sleeps, make_client
from tests.twelvelabs.test_endpoints import SCHEMA, ready_asset, sha256
from tests.videos import make_padded_video

CHUNK = 64 * 1024  # the fake's chunk size in these tests (conftest)


@dataclass
class Env:
    client: TwelveLabsClient
    fake: FakeTwelveLabs
    video: Path
    big: Path
    asset_id: str = ""  # a ready asset, for the creates that need one
    index_id: str = ""
    created: str = ""  # the id the create returned


@dataclass(frozen=True)
class Case:
    template: str  # the create's route in the fake
    lookup: str  # the route its look-up reads
    setup: Callable[[Env], Awaitable[None]]
    create: Callable[[Env], Awaitable[str]]  # returns the created id
    existing: Callable[[FakeTwelveLabs], list[str]]  # ids of that kind on the server


async def _nothing(env: Env) -> None:
    return None


async def _ready(env: Env) -> None:
    env.asset_id = (await ready_asset(env.client, env.video)).id


async def _ready_and_index(env: Env) -> None:
    await _ready(env)
    env.index_id = (await env.client.indexes.find_or_create("team")).id


async def _url_asset(env: Env) -> str:
    # The create answers at once; the fetch (which fails: nothing listens) comes later.
    asset = await env.client.assets.create_from_url("http://127.0.0.1:9/clip.mp4", request_key="j1")
    return asset.id


async def _direct(env: Env) -> str:
    return (await env.client.assets.upload(env.video, request_key="j1")).id


async def _multipart(env: Env) -> str:
    return (await env.client.assets.upload(env.big, request_key="j1")).id


async def _indexed(env: Env) -> str:
    return (await env.client.indexes.indexed_assets.create(env.index_id, env.asset_id)).id


async def _index(env: Env) -> str:
    return (await env.client.indexes.find_or_create("team")).id


async def _task(env: Env) -> str:
    ref = await env.client.analysis.create(asset_id=env.asset_id, prompt="p", json_schema=SCHEMA)
    return ref.task_id


def _assets(method: str) -> Callable[[FakeTwelveLabs], list[str]]:
    return lambda fake: [a.id for a in fake.assets.values() if a.method == method]


CASES = {
    "url asset": Case("/assets", "/assets", _nothing, _url_asset, _assets("url")),
    "direct upload": Case("/assets", "/assets", _nothing, _direct, _assets("direct")),
    "multipart session": Case(
        "/assets/multipart-uploads", "/assets", _nothing, _multipart, _assets("multipart")
    ),
    "indexed asset": Case(
        "/indexes/{id}/indexed-assets",
        "/assets/{id}/indexed-assets",
        _ready_and_index,
        _indexed,
        lambda fake: list(fake.indexed_assets),
    ),
    "index": Case("/indexes", "/indexes", _nothing, _index, lambda fake: list(fake.indexes)),
    "analysis task": Case(
        "/analyze/tasks", "/analyze/tasks", _ready, _task, lambda fake: list(fake.tasks)
    ),
}


@pytest.fixture
def big(tmp_path: Path) -> Path:
    return make_padded_video(tmp_path / "big.mp4", 3 * CHUNK + 100)  # 4 chunks


async def _run(fake: FakeTwelveLabs, video: Path, big: Path, case: Case, fault: Fault) -> Env:
    sleeps = Sleeps()
    async with make_client(fake, sleep=sleeps, direct_upload_limit=2 * CHUNK) as client:
        env = Env(client, fake, video, big)
        await case.setup(env)
        fake.calls.clear()
        sleeps.delays.clear()
        fake.add_fault(fault)
        env.created = await case.create(env)
    assert not fake.faults  # the fault did fire
    return env


@pytest.mark.parametrize("kind", ["error-after", "drop-after"])
@pytest.mark.parametrize("name", list(CASES))
async def test_done_but_unanswered_create_is_found_not_repeated(
    fake: FakeTwelveLabs, video: Path, big: Path, name: str, kind: str
) -> None:
    case = CASES[name]
    env = await _run(fake, video, big, case, Fault(method="POST", path=case.template, kind=kind))
    assert case.existing(fake) == [env.created]  # exactly one, and the call returned it
    posts = [c.status for c in fake.calls if c.method == "POST" and c.template == case.template]
    if name == "multipart session":
        # Its session can't be resumed from the asset: the orphan is deleted, one made afresh.
        assert posts == [502 if kind == "error-after" else 0, 201]
        assert fake.count("DELETE", "/assets/{id}") == 1
        live = [u for u in fake.uploads.values() if u.status != "failed"]
        assert [u.asset_id for u in live] == [env.created] and live[0].status == "completed"
    else:
        assert posts == [502 if kind == "error-after" else 0]  # never sent twice
        assert sum(env.client.stats.retries.values()) == 0
    assert fake.count("GET", case.lookup) >= 1


@pytest.mark.parametrize("kind", ["503", "drop"])
@pytest.mark.parametrize("name", list(CASES))
async def test_create_that_did_nothing_is_looked_up_then_made_once(
    fake: FakeTwelveLabs, video: Path, big: Path, name: str, kind: str
) -> None:
    case = CASES[name]
    env = await _run(fake, video, big, case, Fault(method="POST", path=case.template, kind=kind))
    assert case.existing(fake) == [env.created]
    posts = [c.status for c in fake.calls if c.method == "POST" and c.template == case.template]
    accepted = 202 if name in ("indexed asset", "analysis task") else 201
    # The look-up found nothing: created again, exactly once.
    assert posts == [503 if kind == "503" else 0, accepted]
    finds_first = 1 if name == "index" else 0  # find_or_create_index looks before creating
    assert fake.count("GET", case.lookup) == finds_first + 1
    assert env.client.stats.retries[("POST", _client_template(case.template))] == 1


def _client_template(fake_template: str) -> str:
    return fake_template.replace("{id}", "{index_id}")


async def test_the_direct_upload_found_is_the_bytes_sent(
    fake: FakeTwelveLabs, client: TwelveLabsClient, video: Path, sleeps: Sleeps
) -> None:
    fake.add_fault(Fault(method="POST", path="/assets", kind="error-after", status=500))
    asset = await client.assets.upload(video, filename="found.mp4", request_key="job-9")
    state = fake.assets[asset.id]
    assert asset.filename == "found.mp4" and asset.user_metadata == {REQUEST_KEY: "job-9"}
    assert state.sha256 == sha256(video) and len(fake.assets) == 1
    assert sleeps.delays == []  # found at once: no backoff


async def test_persistent_ambiguous_failure_ends_transient_after_max_retries(
    fake: FakeTwelveLabs, client: TwelveLabsClient, video: Path, sleeps: Sleeps
) -> None:
    fake.add_fault(Fault(method="POST", path="/assets", kind="503", times=20))
    with pytest.raises(errors.ServerError) as info:
        await client.assets.upload(video)
    assert info.value.transient and info.value.status_code == 503
    assert fake.count("POST", "/assets") == 5  # 1 + max_retries (4)
    assert fake.count("GET", "/assets") == 5  # looked up after every attempt, the last too
    assert len(sleeps.delays) == 4
    assert all(0.0 <= d <= min(0.05, 0.01 * 2**n) for n, d in enumerate(sleeps.delays))
    assert fake.assets == {}


async def test_dropped_every_time_ends_in_a_transient_transport_error(
    fake: FakeTwelveLabs, client: TwelveLabsClient, video: Path
) -> None:
    fake.add_fault(Fault(method="POST", path="/assets", kind="drop", times=20))
    with pytest.raises(errors.TransportError) as info:
        await client.assets.upload(video)
    assert info.value.transient and info.value.may_have_succeeded
    assert fake.count("POST", "/assets") == 5 and fake.assets == {}


async def test_a_failed_look_up_stops_the_create(
    fake: FakeTwelveLabs, client: TwelveLabsClient, video: Path
) -> None:
    # Without an answer from the look-up, sending again could duplicate: give up instead.
    fake.add_fault(Fault(method="POST", path="/assets", kind="error-after"))
    fake.add_fault(Fault(method="GET", path="/assets", kind="401"))
    with pytest.raises(errors.AuthenticationError):
        await client.assets.upload(video)
    assert fake.count("POST", "/assets") == 1 and len(fake.assets) == 1


async def test_4xx_on_create_is_not_looked_up_or_retried(
    fake: FakeTwelveLabs, client: TwelveLabsClient
) -> None:
    with pytest.raises(errors.BadRequestError):
        await client.assets.create_from_url("ftp://example.com/x.mp4")
    assert fake.count("POST", "/assets") == 1 and fake.count("GET", "/assets") == 0


async def test_task_with_callers_custom_id_relies_on_the_idempotency_key(
    fake: FakeTwelveLabs, client: TwelveLabsClient, video: Path
) -> None:
    asset = await ready_asset(client, video)
    fake.add_fault(Fault(method="POST", path="/analyze/tasks", kind="error-after"))
    ref = await client.analysis.create(
        asset_id=asset.id, prompt="p", json_schema=SCHEMA, custom_id="shared"
    )
    posts = [c for c in fake.calls if c.template == "/analyze/tasks" and c.method == "POST"]
    # A caller's custom_id need not be unique, so no listing: the key's replay dedupes.
    assert [c.status for c in posts] == [502, 202]
    assert len({c.headers["idempotency-key"] for c in posts}) == 1
    assert fake.count("GET", "/analyze/tasks") == 0
    assert list(fake.tasks) == [ref.task_id]


async def test_task_custom_id_is_made_from_the_idempotency_key(
    fake: FakeTwelveLabs, client: TwelveLabsClient, video: Path
) -> None:
    asset = await ready_asset(client, video)
    await client.analysis.create(
        asset_id=asset.id, prompt="p", json_schema=SCHEMA, idempotency_key="job1-2"
    )
    await client.analysis.create(
        asset_id=asset.id, prompt="p", json_schema=SCHEMA, idempotency_key="has spaces/&"
    )
    first, second = (t.custom_id for t in fake.tasks.values())
    assert first == "gistbot-job1-2"  # marked as this app's, for webhook events
    # A digest: the key's charset is not allowed.
    assert second is not None and len(second) == 64 and second.startswith("gistbot-")

"""Several replicas on one PostgreSQL database (GIST_DATABASE_URL), as real `gistbot run`
processes: events and Slack's retries spread across them; a replica SIGKILLed mid-job and
never restarted has its jobs finished by another, once; one message delivered to two
replicas at once is one job; daily quotas count what every replica did; an unusable database
stops start-up in one line.

PostgreSQL comes from GIST_TEST_DATABASE_URL (default: the local server, trust auth); each
test has a schema of its own, named in the URL as an operator would. With CI set, an
unreachable server fails these tests instead of skipping them."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.proc import AppProcess, wait_for
from tests.e2e.replicas import (
    PG_URL,
    JobsTable,
    Row,
    by_pid,
    create_schema,
    distinct_video,
    drop_schema,
    pg_problem,
    replica_env,
    schema_url,
    start_all,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.slack_driver import SlackDriver, app_mention_event, message_event, next_ts
from tests.videos import make_video

CHANNEL = "C0001"
SECRET = "test-signing-secret"
LEASE_S = 3.0
HEARTBEAT_S = LEASE_S / 3  # the runner renews and looks for abandoned jobs this often


@pytest.fixture
def db_url() -> Iterator[str]:
    """GIST_DATABASE_URL for this test's replicas: a fresh schema, dropped afterwards."""
    problem = pg_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL for the replica tests: {problem}")
        pytest.skip(problem)
    schema = create_schema()
    yield schema_url(PG_URL, schema)
    drop_schema(schema)


@pytest.fixture
def table(db_url: str) -> Iterator[JobsTable]:
    jobs = JobsTable(db_url)
    yield jobs
    jobs.close()


@pytest.fixture
def slow_tl(fake_tl: FakeTwelveLabs) -> FakeTwelveLabs:
    # Each durable step lasts long enough to kill a replica in it.
    fake_tl.asset_processing_s = 1.5
    fake_tl.task_processing_s = 1.5
    return fake_tl


def replicas(
    n: int, slack: FakeSlack, tl: FakeTwelveLabs, tmp: Path, db_url: str, **env: str
) -> list[AppProcess]:
    return [
        AppProcess(
            replica_env(slack, tl, tmp, i, db_url, LEASE_S, LOG_LEVEL="INFO", **env),
            tmp,
            tmp / f"replica{i}.log",
        )
        for i in range(n)
    ]


async def stop_all(apps: list[AppProcess]) -> None:
    for app in apps:
        if app.proc is not None and app.proc.returncode is None:
            await app.terminate()


def per_name(tl: FakeTwelveLabs) -> tuple[dict[str, int], dict[str, int]]:
    """TwelveLabs assets and analysis tasks per video file name."""
    assets: dict[str, int] = {}
    name_of = {}
    for asset in list(tl.assets.values()):
        assets[asset.filename] = assets.get(asset.filename, 0) + 1
        name_of[asset.id] = asset.filename
    tasks: dict[str, int] = {}
    for task in list(tl.tasks.values()):
        name = name_of.get(str(task.video.get("asset_id")), "?")
        tasks[name] = tasks.get(name, 0) + 1
    return assets, tasks


def thread_summary(slack: FakeSlack, ts: str) -> dict[str, int]:
    thread = [m for m in slack.thread(CHANNEL, ts) if not m.deleted]
    return {
        "messages": len(thread),
        "results": sum("gist_regenerate" in str(m.blocks) for m in thread),
        "working": sum(":hourglass" in str(m.blocks) for m in thread),
    }


async def test_a_replica_killed_mid_job_has_its_jobs_finished_once_by_another(
    fake_slack: FakeSlack,
    slow_tl: FakeTwelveLabs,
    tmp_path: Path,
    video_server: str,
    db_url: str,
    table: JobsTable,
) -> None:
    apps = replicas(3, fake_slack, slow_tl, tmp_path, db_url)
    drivers = [SlackDriver(app_url=url, signing_secret=SECRET) for url in await start_all(apps)]
    base = make_video(5.0).read_bytes()
    threads: dict[str, str] = {}  # video name -> the message's ts
    try:
        for i in range(6):  # round-robin; every other event retried by Slack to the next one
            ts, name = next_ts(), f"replica-{i}.mp4"
            if i % 2 == 0:
                file = fake_slack.add_file(name, distinct_video(base, i), channel=CHANNEL)
                event = message_event(CHANNEL, ts, "new cut", files=[file])
            else:
                event = message_event(CHANNEL, ts, f"<{video_server}/media/{name}>")
            first = drivers[i % 3]
            assert (await first.post_event(event)).status_code == 200
            if i % 2 == 0:
                retry = await drivers[(i + 1) % 3].post_event(
                    event, event_id=first.last_event_id, retry_num=1, retry_reason="http_timeout"
                )
                assert retry.status_code == 200
            threads[name] = ts

        # Kill the replica holding a job whose asset is saved, before its analysis is.
        def mid_job() -> Row | None:
            return next(
                (
                    r
                    for r in table.rows()
                    if r.owner and r.data.get("asset_id") and not r.data.get("gist")
                ),
                None,
            )

        assert await wait_for(lambda: mid_job() is not None, timeout_s=30, interval=0.02)
        target = mid_job()
        assert target is not None
        victim = by_pid(apps, target.owner_pid)
        assert victim is not None, f"no replica owns {target.owner}"
        await victim.kill()
        dead = target.owner
        orphans = {r.id: r for r in table.rows() if r.owner == dead}  # leases now final
        assert target.id in orphans
        taken: dict[str, tuple[float, str]] = {}  # job -> (db time seen, new owner)

        def all_done() -> bool:
            rows = table.rows()
            for r in rows:
                if r.id in orphans and r.id not in taken and r.owner not in (None, dead):
                    taken[r.id] = (r.db_now, r.owner or "")
            return all(r.state in ("done", "failed") for r in rows)

        assert await wait_for(all_done, timeout_s=60, interval=0.05), "jobs left unfinished"
        await asyncio.sleep(0.5)  # a late duplicate reply would show now
    finally:
        await stop_all(apps)

    rows = table.rows()
    assert len(rows) == 6 and {r.state for r in rows} == {"done"}  # retries added nothing
    for name, ts in threads.items():
        assert thread_summary(fake_slack, ts) == {"messages": 1, "results": 1, "working": 0}, name
    assets, tasks = per_name(slow_tl)
    assert assets == {name: 1 for name in threads} and tasks == {name: 1 for name in threads}
    # Every job of the dead replica was taken over by a live one, never while its lease lived,
    # and within a lease plus a heartbeat (and a margin for a busy machine) of it running out.
    assert set(taken) == set(orphans)
    for job_id, (seen_at, owner) in taken.items():
        lease_until = orphans[job_id].lease_until
        assert lease_until is not None and owner.split(":")[1] != str(target.owner_pid)
        assert lease_until <= seen_at <= lease_until + HEARTBEAT_S + 2.0
        assert lease_until - orphans[job_id].db_now <= LEASE_S  # the dead one's last renewal
    took_over = "\n".join((tmp_path / f"replica{i}.log").read_text() for i in range(3))
    assert f"resuming job {target.id}" in took_over
    assert "Traceback" not in took_over


async def test_one_message_or_video_at_two_replicas_at_once_is_paid_for_once(
    fake_slack: FakeSlack,
    fake_tl: FakeTwelveLabs,
    tmp_path: Path,
    video_server: str,
    db_url: str,
    table: JobsTable,
) -> None:
    apps = replicas(2, fake_slack, fake_tl, tmp_path, db_url)
    a, b = [SlackDriver(app_url=url, signing_secret=SECRET) for url in await start_all(apps)]
    base = make_video(5.0).read_bytes()
    try:
        # The same event (one event_id) to both at once, as a retry racing the first delivery.
        ts1 = next_ts()
        file = fake_slack.add_file("twice.mp4", distinct_video(base, 1), channel=CHANNEL)
        event = message_event(CHANNEL, ts1, "look", files=[file])
        envelope_id = "Ev0TWICE0001"
        acks = list(
            await asyncio.gather(
                a.post_event(event, event_id=envelope_id),
                b.post_event(event, event_id=envelope_id, retry_num=1, retry_reason="http_timeout"),
            )
        )
        # One message as two events (`message` and `app_mention`, two event ids), one each.
        ts2 = next_ts()
        file2 = fake_slack.add_file("mention.mp4", distinct_video(base, 2), channel=CHANNEL)
        text = "<@UBOT> gist this"
        acks += await asyncio.gather(
            a.post_event(message_event(CHANNEL, ts2, text, files=[file2])),
            b.post_event(app_mention_event(CHANNEL, ts2, text, files=[file2])),
        )
        # Two messages with one video, one to each: two jobs, two replies, one analysis.
        ts3, ts4 = next_ts(), next_ts()
        link = f"<{video_server}/media/shared.mp4>"
        acks += await asyncio.gather(
            a.post_event(message_event(CHANNEL, ts3, link)),
            b.post_event(message_event(CHANNEL, ts4, link)),
        )
        assert [r.status_code for r in acks] == [200] * 6
        assert await wait_for(
            lambda: len(rows := table.rows()) == 4 and all(r.state == "done" for r in rows), 30
        )
        await asyncio.sleep(0.5)
    finally:
        await stop_all(apps)
    assert len(table.rows()) == 4
    for ts in (ts1, ts2, ts3, ts4):
        assert thread_summary(fake_slack, ts) == {"messages": 1, "results": 1, "working": 0}
    once = {"twice.mp4": 1, "mention.mp4": 1, "shared.mp4": 1}
    assert per_name(fake_tl) == (once, once)


async def test_daily_quota_counts_what_every_replica_did(
    fake_slack: FakeSlack,
    fake_tl: FakeTwelveLabs,
    tmp_path: Path,
    db_url: str,
    table: JobsTable,
) -> None:
    # 0.2 min = 12 s a day for the user; each video is 5 s. Alone, no replica reaches it.
    apps = replicas(3, fake_slack, fake_tl, tmp_path, db_url, GIST_USER_DAILY_MINUTES="0.2")
    drivers = [SlackDriver(app_url=url, signing_secret=SECRET) for url in await start_all(apps)]
    base = make_video(5.0).read_bytes()
    threads = []
    try:
        for i, driver in enumerate(drivers):  # one after the other, one per replica
            ts = next_ts()
            file = fake_slack.add_file(
                f"quota-{i}.mp4", distinct_video(base, i), channel=CHANNEL, duration_ms=5000
            )
            assert (
                await driver.post_event(message_event(CHANNEL, ts, "x", files=[file]))
            ).is_success
            threads.append(ts)

            def ended(n: int = i + 1) -> bool:
                return sum(r.state in ("done", "failed") for r in table.rows()) == n

            assert await wait_for(ended, 30)
        usage = await drivers[0].slash_command(
            "usage", channel=CHANNEL, user="U123", response_url=fake_slack.new_response_url()
        )
    finally:
        await stop_all(apps)
    assert [thread_summary(fake_slack, ts)["results"] for ts in threads] == [1, 1, 0]
    refused = fake_slack.thread(CHANNEL, threads[2])
    assert len(refused) == 1 and ":x:" in str(refused[0].blocks)
    assert [r.data.get("error_code") for r in table.rows()] == [None, None, "quota_user"]
    assert sorted(seconds for _, _, seconds in table.usage()) == [5.0, 5.0]  # once per video
    assert len(fake_tl.assets) == 2  # the refused one cost nothing
    # `/gist usage` on any replica shows the day's jobs of all of them.
    fields = [f["text"] for b in usage.json()["blocks"] for f in b.get("fields", [])]
    assert "*Jobs today*\n2" in fields


async def start_up_output(env: dict[str, str], cwd: Path) -> tuple[int | None, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    return proc.returncode, (out + err).decode()


def one_line_naming_the_url(text: str) -> str:
    naming = [line for line in text.splitlines() if "GIST_DATABASE_URL" in line]
    assert len(naming) == 1, text
    assert naming[0].startswith("gistbot cannot start: GIST_DATABASE_URL: ")
    assert "Traceback" not in text and "s3cret-pw" not in text
    return naming[0]


async def test_unreachable_database_stops_start_up_in_one_line(
    fake_slack: FakeSlack, fake_tl: FakeTwelveLabs, tmp_path: Path
) -> None:
    url = "postgresql://gist:s3cret-pw@127.0.0.1:1/gistbot"  # nobody listens on port 1
    env = replica_env(fake_slack, fake_tl, tmp_path, 0, url, LEASE_S, LOG_LEVEL="DEBUG")
    code, text = await start_up_output(env, tmp_path)
    assert code == 78
    line = one_line_naming_the_url(text)
    assert "127.0.0.1:1" in line and "refused" in line.lower()


async def test_refusing_database_stops_start_up_in_one_line(
    fake_slack: FakeSlack, fake_tl: FakeTwelveLabs, tmp_path: Path, db_url: str
) -> None:
    server = urlsplit(PG_URL)
    url = f"postgresql://{server.username or 'postgres'}:s3cret-pw@{server.netloc.split('@')[-1]}"
    url += "/no_such_database_here"  # the server answers, and refuses
    env = replica_env(fake_slack, fake_tl, tmp_path, 0, url, LEASE_S, LOG_LEVEL="DEBUG")
    code, text = await start_up_output(env, tmp_path)
    assert code == 78
    assert "no_such_database_here" in one_line_naming_the_url(text)

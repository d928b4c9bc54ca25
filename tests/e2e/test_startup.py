"""Start-up: bad tokens fail fast and clearly; /healthz in HTTP mode; signatures checked."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.runtime import StartupError, start
from tests.e2e.conftest import CHANNEL, Harness, make_settings
from tests.e2e.proc import AppProcess, app_env
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.slack_driver import message_event


async def test_revoked_bot_token_stops_start_up_with_a_clear_message(
    fake_slack: FakeSlack, fake_tl: FakeTwelveLabs, tmp_path: Path
) -> None:
    fake_slack.revoke()
    with pytest.raises(StartupError, match="token_revoked") as err:
        await start(make_settings(fake_slack, fake_tl, tmp_path / "db.sqlite3"))
    assert fake_slack.bot_token not in str(err.value)


async def test_process_exits_78_without_traceback_on_bad_token(
    fake_slack: FakeSlack, fake_tl: FakeTwelveLabs, tmp_path: Path
) -> None:
    env = app_env(fake_slack, fake_tl, tmp_path / "db.sqlite3", SLACK_BOT_TOKEN="xoxb-nope")
    app = AppProcess(env, tmp_path, tmp_path / "app.log")
    with pytest.raises(RuntimeError, match="exited early"):
        await app.start()
    assert app.proc is not None and await app.proc.wait() == 78
    log = (tmp_path / "app.log").read_text()
    assert "invalid_auth" in log and "Traceback" not in log and "xoxb-nope" not in log


async def test_healthz_and_signature_checks_in_http_mode(harness: Harness) -> None:
    async with httpx.AsyncClient() as http:
        health = await http.get(harness.running.url + "/healthz")
    assert health.status_code == 200 and health.json()["mode"] == "http"
    event = message_event(CHANNEL, "1700002000.000100", "<https://x.test/a.mp4>")
    assert (await harness.driver.post_event(event, bad_signature=True)).status_code == 401
    stale = await harness.driver.post_event(event, timestamp=1_600_000_000)
    assert stale.status_code == 401
    assert await harness.running.store.count() == 0
    assert harness.tl.calls == [] and harness.slack.calls("chat.postMessage") == []


async def test_logs_of_full_runs_hold_no_secrets(
    fake_slack: FakeSlack, fake_tl: FakeTwelveLabs, tmp_path: Path, video_server: str
) -> None:
    """A whole gist and a failing one at DEBUG level, in a real process: grep its log."""
    from tests.e2e.proc import stored_jobs, wait_for
    from tests.slack_driver import SlackDriver

    db = tmp_path / "db.sqlite3"
    env = app_env(fake_slack, fake_tl, db, LOG_LEVEL="DEBUG")
    app = AppProcess(env, tmp_path, tmp_path / "app.log")
    url = await app.start()
    driver = SlackDriver(app_url=url, signing_secret=env["SLACK_SIGNING_SECRET"])
    await driver.post_event(message_event(CHANNEL, "1700002100.000100",
                                          f"<{video_server}/media/ok.mp4>"))  # fmt: skip
    await driver.post_event(message_event(CHANNEL, "1700002101.000100",
                                          f"<{video_server}/missing/gone.mp4>"))  # fmt: skip
    assert await wait_for(
        lambda: len([j for j in stored_jobs(db) if j["state"] in ("done", "failed")]) == 2, 30
    )
    await app.terminate()
    log = (tmp_path / "app.log").read_text()
    assert "chat.postMessage" in log  # DEBUG logging really ran
    for secret in (env["SLACK_BOT_TOKEN"], env["SLACK_SIGNING_SECRET"], env["TWELVELABS_API_KEY"]):
        assert secret not in log

"""The fake Slack speaks the real wire format: driven here by the real slack_sdk clients,
plain HTTP clients, and a real Bolt AsyncApp fed by the request driver."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond, AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.models.blocks import HeaderBlock, SectionBlock
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack import FakeSlack
from tests.slack_driver import (
    SlackDriver,
    app_mention_event,
    message_changed_event,
    message_event,
    next_ts,
    rich_text_elements,
    sign,
    slack_text,
)

TOKEN = "xoxb-test-token"
SECRET = "test-secret"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    fake = FakeSlack(bot_token=TOKEN, team_id="T0001", bot_user_id="UBOT", bot_id="BBOT")
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeSlack) -> FakeSlack:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.api_url)


async def slack_error(coro: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await coro
    return info.value


# --------------------------------------------------------------------------- Web API


async def test_auth_test_and_scopes_header(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert fake.api_url == fake.base_url + "api/"
    resp = await client.auth_test()
    assert resp["ok"] is True
    assert (resp["team_id"], resp["user_id"], resp["bot_id"]) == ("T0001", "UBOT", "BBOT")
    assert resp["url"].startswith("https://") and resp["team"] and resp["user"]
    assert "chat:write" in resp.headers["x-oauth-scopes"]
    (call,) = fake.calls("auth.test")
    assert call.headers["authorization"] == f"Bearer {TOKEN}" and call.token == TOKEN
    assert call.ok and call.status == 200 and call.error is None


async def test_bad_tokens_and_unknown_method(fake: FakeSlack) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert (await slack_error(wrong.auth_test())).response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=fake.api_url)
    assert (await slack_error(anonymous.auth_test())).response["error"] == "not_authed"
    client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    err = await slack_error(client.api_call("chat.teleport"))
    assert err.response["error"] == "unknown_method" and err.response.status_code == 200
    fake.revoke()
    err = await slack_error(client.chat_postMessage(channel="C1", text="hi"))
    assert err.response["error"] == "token_revoked" and err.response.status_code == 200
    assert [c.error for c in fake.calls()][-1] == "token_revoked"


async def test_post_update_delete_thread(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = next_ts()
    first = await client.chat_postMessage(
        channel="C1",
        thread_ts=parent,
        text="Working on it…",
        blocks=[SectionBlock(text="*Uploading*")],
    )
    second = await client.chat_postMessage(channel="C1", text="top level")
    assert first["channel"] == "C1" and first["message"]["thread_ts"] == parent
    assert float(second["ts"]) > float(first["ts"]) and len(first["ts"].split(".")[1]) == 6
    assert first["message"]["bot_id"] == "BBOT" and first["message"]["user"] == "UBOT"

    posted = fake.calls("chat.postMessage")[0]
    assert posted.params["blocks"][0]["text"]["text"] == "*Uploading*"  # JSON body parsed

    updated = await client.chat_update(
        channel="C1", ts=first["ts"], text="Done", blocks=[HeaderBlock(text="A title")]
    )
    assert updated["text"] == "Done"
    (reply,) = fake.thread("C1", parent)
    assert reply.text == "Done" and reply.blocks is not None
    assert reply.blocks[0]["type"] == "header"
    assert [v.text for v in reply.edits] == ["Working on it…"]
    assert [m.ts for m in fake.messages("C1")] == [first["ts"], second["ts"]]

    await client.chat_delete(channel="C1", ts=second["ts"])
    assert [m.deleted for m in fake.messages("C1")] == [False, True]
    for ts in (second["ts"], "1.000000"):
        err = await slack_error(client.chat_update(channel="C1", ts=ts, text="x"))
        assert err.response["error"] == "message_not_found"
    err = await slack_error(client.chat_delete(channel="C1", ts="1.000000"))
    assert err.response["error"] == "message_not_found"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_message_validation_like_slack(fake: FakeSlack, client: AsyncWebClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"channel": "C1"}, "no_text"),
        ({"channel": "", "text": "x"}, "channel_not_found"),
        ({"channel": "C1", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            {
                "channel": "C1",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            },
            "invalid_blocks",
        ),
        (
            {
                "channel": "C1",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}],
            },
            "invalid_blocks",
        ),
        (
            {
                "channel": "C1",
                "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
            },
            "invalid_blocks",
        ),
        ({"channel": "C1", "blocks": [{"type": "no_such_block"}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x" * 40_001}, "msg_too_long"),
    ]
    for kwargs, error in cases:
        err = await slack_error(client.chat_postMessage(**kwargs))
        assert err.response["error"] == error, kwargs
    err = await slack_error(
        client.chat_postMessage(
            channel="C1",
            text="t",
            blocks=[{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        )
    )
    assert err.response["errors"] == [
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]"
    ]
    ok = await client.chat_postMessage(
        channel="C1",
        text="fallback",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3000}}] * 50,
    )
    assert ok["ok"] and fake.messages("C1")[0].text == "fallback"
    # Form-encoded blocks (a JSON string) are parsed too.
    resp = await client.api_call(
        "chat.postMessage",
        data={"channel": "C1", "text": "t", "blocks": json.dumps([{"type": "divider"}])},
    )
    assert resp["ok"] and fake.calls("chat.postMessage")[-1].params["blocks"] == [
        {"type": "divider"}
    ]
    err = await slack_error(
        client.api_call("chat.postMessage", data={"channel": "C1", "blocks": "[nope"})
    )
    assert err.response["error"] == "invalid_blocks_format"


async def test_not_in_channel_and_join(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.not_in_channel.add("C9")
    for call in (
        client.chat_postMessage(channel="C9", text="hi"),
        client.reactions_add(channel="C9", timestamp="1.000001", name="eyes"),
        client.chat_postEphemeral(channel="C9", user="U1", text="hi"),
    ):
        assert (await slack_error(call)).response["error"] == "not_in_channel"
    info = await client.conversations_info(channel="C9")
    assert info["channel"]["is_member"] is False
    joined = await client.conversations_join(channel="C9")
    assert joined["channel"]["is_member"] is True and "warning" not in joined
    assert (await client.conversations_info(channel="C9"))["channel"]["is_member"] is True
    assert (await client.conversations_join(channel="C9"))["warning"] == "already_in_channel"
    assert (await client.chat_postMessage(channel="C9", text="hi"))["ok"]
    err = await slack_error(client.conversations_join(channel="G123"))
    assert err.response["error"] == "method_not_supported_for_channel_type"


async def test_reactions(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = next_ts()
    await client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    await client.reactions_add(channel="C1", timestamp=ts, name="hourglass_flowing_sand")
    err = await slack_error(client.reactions_add(channel="C1", timestamp=ts, name="eyes"))
    assert err.response["error"] == "already_reacted"
    await client.reactions_remove(channel="C1", timestamp=ts, name="eyes")
    err = await slack_error(client.reactions_remove(channel="C1", timestamp=ts, name="eyes"))
    assert err.response["error"] == "no_reaction"
    err = await slack_error(client.reactions_add(channel="C1", timestamp=ts, name=":x:"))
    assert err.response["error"] == "invalid_name"
    assert fake.reactions("C1", ts) == {"hourglass_flowing_sand"}
    assert fake.calls("reactions.add")[0].params == {
        "channel": "C1",
        "timestamp": ts,
        "name": "eyes",
    }


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_ephemeral_and_home_view(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(channel="C1", user="U7", text="only you")
    assert resp["message_ts"]
    (eph,) = fake.ephemerals("C1")
    assert eph["user"] == "U7" and eph["text"] == "only you"
    err = await slack_error(client.chat_postEphemeral(channel="C1", user="U7"))
    assert err.response["error"] == "no_text"

    view = {"type": "home", "blocks": [{"type": "divider"}] * 100}
    published = await client.views_publish(user_id="U7", view=view)
    assert published["view"]["type"] == "home" and published["view"]["id"].startswith("V")
    assert len(fake.views("U7")) == 1
    view["blocks"] = [{"type": "divider"}] * 101
    err = await slack_error(client.views_publish(user_id="U7", view=view))
    assert err.response["error"] == "invalid_blocks"


async def test_rate_limit_absorbed_by_sdk_retry_handler(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", times=1, retry_after=0)
    client = AsyncWebClient(
        token=TOKEN,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    resp = await client.chat_postMessage(channel="C1", text="hi")
    assert resp["ok"]
    assert [(c.status, c.error) for c in fake.calls("chat.postMessage")] == [
        (429, "ratelimited"),
        (200, None),
    ]
    assert len(fake.messages("C1")) == 1

    fake.rate_limit("chat.update", times=1, retry_after=7)
    plain = AsyncWebClient(token=TOKEN, base_url=fake.api_url, retry_handlers=[])
    err = await slack_error(plain.chat_update(channel="C1", ts=resp["ts"], text="x"))
    assert err.response.status_code == 429 and err.response.headers["Retry-After"] == "7"
    assert err.response["error"] == "ratelimited"


async def test_injected_failures_and_server_errors(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", "channel_not_found", times=2)
    client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    for _ in range(2):
        err = await slack_error(client.chat_postMessage(channel="C1", text="x"))
        assert err.response["error"] == "channel_not_found"
    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"]

    fake.server_error("reactions.add", times=1, status=503)
    retrying = AsyncWebClient(
        token=TOKEN,
        base_url=fake.api_url,
        retry_handlers=[
            AsyncServerErrorRetryHandler(
                max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
            )
        ],
    )
    assert (await retrying.reactions_add(channel="C1", timestamp="1.000001", name="eyes"))["ok"]
    assert [c.status for c in fake.calls("reactions.add")] == [503, 200]


async def test_files_info_and_stub_files(fake: FakeSlack, client: AsyncWebClient) -> None:
    hosted = fake.add_file("clip.mp4", b"x" * 10, channel="C1", duration_ms=1234)
    for key in (
        "id",
        "name",
        "title",
        "mimetype",
        "filetype",
        "pretty_type",
        "size",
        "mode",
        "user",
        "url_private",
        "url_private_download",
        "permalink",
        "thumb_video",
    ):
        assert key in hosted, key
    assert hosted["id"].startswith("F") and hosted["mode"] == "hosted"
    assert hosted["size"] == 10 and hosted["duration_ms"] == 1234
    assert hosted["url_private_download"].startswith(fake.base_url + "files-pri/T0001-")
    assert hosted["url_private_download"].endswith("/download/clip.mp4")
    info = await client.files_info(file=hosted["id"])
    assert info["file"]["url_private_download"] == hosted["url_private_download"]
    assert info["file"]["channels"] == ["C1"]
    assert fake.calls("files.info")[0].http_method == "GET"

    stub = fake.add_file(
        "secret.mov", b"y", mimetype="video/quicktime", filetype="mov", mode="file_access"
    )
    assert stub == {"id": stub["id"], "mode": "file_access", "file_access": "check_file_info"}
    full = (await client.files_info(file=stub["id"]))["file"]
    assert full["mimetype"] == "video/quicktime" and full["url_private_download"]

    tomb = fake.add_file("gone.mp4", b"z", mode="tombstone")
    assert tomb == {"id": tomb["id"], "mode": "tombstone"}
    err = await slack_error(client.files_info(file=tomb["id"]))
    assert err.response["error"] == "file_deleted"

    hidden = fake.add_file("old.mp4", b"z", mode="hidden_by_limit")
    assert hidden["mode"] == "hidden_by_limit" and "url_private" not in hidden
    assert "name" not in hidden

    err = await slack_error(client.files_info(file="F_NOPE"))
    assert err.response["error"] == "file_not_found"
    fake.delete_file(hosted["id"])
    err = await slack_error(client.files_info(file=hosted["id"]))
    assert err.response["error"] == "file_deleted"


# --------------------------------------------------------------------------- response_url


async def test_response_url_five_uses_then_used_url(fake: FakeSlack) -> None:
    url = fake.new_response_url()
    hook = AsyncWebhookClient(url)
    for i in range(5):
        resp = await hook.send(text=f"update {i}", response_type="ephemeral")
        assert (resp.status_code, resp.body) == (200, "ok")
    sixth = await hook.send(text="one too many")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert [r["text"] for r in fake.responses(url)] == [f"update {i}" for i in range(5)]

    other = fake.new_response_url()
    hook = AsyncWebhookClient(other)
    assert (await hook.send(text="", blocks=None)).body == "no_text"
    bad = await hook.send(
        text="t", blocks=[{"type": "header", "text": {"type": "plain_text", "text": "h" * 200}}]
    )
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    assert (await hook.send_dict({"delete_original": True})).status_code == 200
    fake.expire_response_url(other)
    assert (await hook.send(text="late")).body == "expired_url"
    assert fake.response_url_state(other).uses == 1


async def test_reset_clears_state(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C1", text="x")
    fake.not_in_channel.add("C2")
    fake.fail("auth.test", "invalid_auth")
    fake.reset()
    assert fake.calls() == [] and fake.messages("C1") == [] and not fake.not_in_channel
    assert (await client.auth_test())["ok"]


# --------------------------------------------------------------------------- driver


def test_sign_matches_slack_sdk_verifier() -> None:
    body = json.dumps({"type": "event_callback"})
    now = int(time.time())
    headers = sign(body, SECRET, now)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert not SignatureVerifier(SECRET).is_valid_request(body, sign(body, SECRET, now - 600))


def test_event_builders_match_slack_shapes() -> None:
    ts = next_ts()
    assert float(next_ts()) > float(ts)
    text = "see <https://cdn.example.com/a.mp4?x=1&amp;y=2|the clip> and https://e.x/b.mp4?a=1&b=2."
    assert slack_text(text) == (
        "see <https://cdn.example.com/a.mp4?x=1&amp;y=2|the clip> and "
        "<https://e.x/b.mp4?a=1&amp;b=2>."
    )
    event = message_event("C1", ts, text)
    assert event["type"] == "message" and "subtype" not in event and event["client_msg_id"]
    assert event["text"] == slack_text(text) and event["event_ts"] == ts
    (block,) = event["blocks"]
    elements = block["elements"][0]["elements"]
    links = [e for e in elements if e["type"] == "link"]
    assert links == [
        {"type": "link", "url": "https://cdn.example.com/a.mp4?x=1&y=2", "text": "the clip"},
        {"type": "link", "url": "https://e.x/b.mp4?a=1&b=2"},
    ]
    assert rich_text_elements("<@UBOT> hi &lt;3") == [
        {"type": "user", "user_id": "UBOT"},
        {"type": "text", "text": " hi <3"},
    ]

    upload = message_event("C1", ts, "", files=[{"id": "F1"}], thread_ts="1.000001")
    assert upload["subtype"] == "file_share" and upload["upload"] is True
    assert "blocks" not in upload and upload["thread_ts"] == "1.000001"
    assert upload["parent_user_id"] == "U123"
    bot = message_event("C1", ts, "beep", bot_id="B9")
    assert bot["bot_id"] == "B9" and "client_msg_id" not in bot

    mention = app_mention_event("C1", ts, "<@UBOT> https://e.x/v.mp4")
    assert mention["type"] == "app_mention" and mention["text"] == "<@UBOT> <https://e.x/v.mp4>"
    changed = message_changed_event("C1", ts, "new")
    assert changed["subtype"] == "message_changed" and changed["message"]["ts"] == ts
    assert changed["hidden"] is True and changed["ts"] != ts


@pytest.fixture
async def bolt_app(fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    for var in (
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    app = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=fake.api_url), signing_secret=SECRET)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text="on it", thread_ts=event.get("thread_ts") or event["ts"])

    @app.event("message")
    async def on_message(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("subtype") in (None, "file_share"):
            await client.reactions_add(channel=event["channel"], timestamp=event["ts"], name="eyes")

    @app.command("/gist")
    async def on_gist(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        await ack()
        await respond(text=f"gisting {command['text']}")

    @app.message_shortcut("gist_message")
    async def on_shortcut(ack: AsyncAck, respond: AsyncRespond, shortcut: dict[str, Any]) -> None:
        await ack()
        await respond(text=f"shortcut on {shortcut['message']['ts']}")

    @app.action("retry")
    async def on_retry(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_update(
            channel=body["channel"]["id"], ts=body["container"]["message_ts"], text="retrying"
        )

    runner = web.AppRunner(app.web_app(path="/slack/events"), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_bolt_app_accepts_driver_requests(fake: FakeSlack, bolt_app: str) -> None:
    driver = SlackDriver(
        app_url=bolt_app, signing_secret=SECRET, team_id="T0001", api_app_id="A0001"
    )
    assert (await driver.url_verification("chal-123")).json() == {"challenge": "chal-123"}

    ts = next_ts()
    resp = await driver.post_event(app_mention_event("C1", ts, "<@UBOT> https://e.x/v.mp4"))
    assert resp.status_code == 200
    (reply,) = await fake.wait_for(lambda: fake.thread("C1", ts), what="threaded reply")
    assert reply.text == "on it"

    video = fake.add_file("clip.mp4", b"v", channel="C1")
    upload_ts = next_ts()
    resp = await driver.post_event(
        message_event("C1", upload_ts, "", files=[video]), retry_num=1, retry_reason="http_timeout"
    )
    assert resp.status_code == 200
    await fake.wait_for(lambda: fake.reactions("C1", upload_ts) == {"eyes"}, what="reaction")

    assert (await driver.post_event(message_changed_event("C1", ts, "x"))).status_code == 200

    url = fake.new_response_url()
    resp = await driver.slash_command(
        "https://e.x/v.mp4", channel="C1", user="U1", response_url=url
    )
    assert resp.status_code == 200
    await fake.wait_for(lambda: fake.responses(url), what="slash response")
    assert fake.responses(url)[0]["text"] == "gisting https://e.x/v.mp4"

    url2 = fake.new_response_url()
    message = message_event("C1", ts, "look https://e.x/v.mp4")
    resp = await driver.message_shortcut(message, channel="C1", user="U1", response_url=url2)
    assert resp.status_code == 200
    (shortcut_reply,) = await fake.wait_for(lambda: fake.responses(url2), what="shortcut")
    assert shortcut_reply["text"] == f"shortcut on {ts}"

    bot_ts = fake.thread("C1", ts)[0].ts
    resp = await driver.block_action(
        "retry",
        "job-1",
        channel="C1",
        message_ts=bot_ts,
        user="U1",
        response_url=fake.new_response_url(),
        thread_ts=ts,
    )
    assert resp.status_code == 200
    await fake.wait_for(lambda: fake.thread("C1", ts)[0].text == "retrying", what="update")

    bad = await driver.post_event(app_mention_event("C1", next_ts(), "x"), bad_signature=True)
    stale = await driver.post_event(
        app_mention_event("C1", next_ts(), "x"), timestamp=int(time.time()) - 3600
    )
    assert (bad.status_code, stale.status_code) == (401, 401)
    await asyncio.sleep(0.05)
    assert len(fake.calls("chat.postMessage")) == 1
    assert len(fake.calls("auth.test")) == 1

"""/gist: ack at once, the result in a thread in the channel, or via response_url when the
bot can't post there; help, usage, and requested types limiting schema and blocks."""

from __future__ import annotations

from tests.e2e.conftest import CHANNEL, Harness, until


def _parents(h: Harness) -> list[object]:
    return [m for m in h.slack.messages(CHANNEL) if m.thread_ts is None]


async def test_gist_command_replies_in_a_thread_with_only_requested_types(
    harness: Harness, video_server: str
) -> None:
    url = f"{video_server}/media/keynote.mp4"
    response_url = harness.slack.new_response_url()
    resp = await harness.driver.slash_command(
        f"{url} hashtags", channel=CHANNEL, user="U42", response_url=response_url
    )
    assert resp.status_code == 200
    assert "On it" in resp.text  # an ephemeral ack, before any TwelveLabs work
    parent = (await until(lambda: _parents(harness)))[0]
    assert "<@U42>" in parent.text
    results = await until(lambda: harness.results(parent.ts))
    assert len(results) == 1
    blocks = str(results[0].blocks)
    assert "Hashtags" in blocks and "Topics" not in blocks
    [task] = [c for c in harness.tl.calls if c.method == "POST" and c.template == "/analyze/tasks"]
    schema = task.body["response_format"]["json_schema"]
    assert list(schema["properties"]) == ["hashtags"]
    assert harness.slack.responses(response_url) == []  # it could post: no response_url use


async def test_gist_command_uses_response_url_when_not_in_channel(
    harness: Harness, video_server: str
) -> None:
    harness.slack.not_in_channel.add("C0PRIVATE")
    response_url = harness.slack.new_response_url()
    await harness.driver.slash_command(
        f"{video_server}/media/private.mp4", channel="C0PRIVATE", user="U42",
        response_url=response_url,
    )  # fmt: skip
    posts = await until(lambda: len(harness.slack.responses(response_url)) >= 2 and
                        harness.slack.responses(response_url))  # fmt: skip
    # First: we tell the user where the answer will come; then: the answer itself.
    assert "not a member" in str(posts[0])
    assert posts[0].get("response_type") == "ephemeral"
    assert "gist_regenerate" in str(posts[1]) and posts[1].get("response_type") == "in_channel"
    await harness.running.runner.wait_idle(5)
    assert len(harness.slack.responses(response_url)) == 2


async def test_help_usage_and_errors_answer_in_the_ack(harness: Harness) -> None:
    url = harness.slack.new_response_url()
    for text, expected in (
        ("", "/gist"),
        ("help", "/gist"),
        ("usage", "minutes"),
        ("https://www.youtube.com/watch?v=abc", "YouTube"),
        ("nonsense words", ""),
    ):
        resp = await harness.driver.slash_command(text, channel=CHANNEL, user="U1",
                                                  response_url=url)  # fmt: skip
        assert resp.status_code == 200
        assert expected in resp.text
    assert harness.tl.calls == []
    assert await harness.running.store.count() == 0

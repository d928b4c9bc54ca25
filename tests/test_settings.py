from pathlib import Path

import pytest

from bot.gist.models import GistType
from bot.settings import Settings, SettingsError, TwelveLabsSettings, load

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "secret",
    "TWELVELABS_API_KEY": "tlk_123",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("SLACK_", "TWELVELABS_", "GIST_")) or name in ("PORT", "HOST"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in BASE.items():
        monkeypatch.setenv(k, v)
    s: Settings = load(Settings)
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.slack_file_hosts == ["files.slack.com"]
    assert s.twelvelabs_base_url == "https://api.twelvelabs.io/v1.3"
    assert s.port == 3000
    assert not s.socket_mode
    assert s.default_types == GistType.all()
    assert s.gist_model == "pegasus1.5"


def test_env_file_and_lists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-9\nSLACK_APP_TOKEN=xapp-1\nTWELVELABS_API_KEY=k\n"
        "SLACK_FILE_HOSTS=files.slack.com, 127.0.0.1:8080\nSLACK_API_URL=http://127.0.0.1:9/api\n"
        "GIST_DEFAULT_TYPES=title,hashtag\n"
    )
    s: Settings = load(Settings)
    assert s.socket_mode  # no signing secret needed in Socket Mode
    assert s.slack_file_hosts == ["files.slack.com", "127.0.0.1:8080"]
    assert s.slack_api_url == "http://127.0.0.1:9/api/"
    assert s.default_types == frozenset({GistType.TITLE, GistType.HASHTAG})


def test_every_problem_reported_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "not-a-token")
    monkeypatch.setenv("PORT", "http")
    monkeypatch.setenv("GIST_MODEL", "pegasus1.2")
    with pytest.raises(SettingsError) as err:
        load(Settings)
    text = str(err.value)
    for name in ("TWELVELABS_API_KEY", "SLACK_BOT_TOKEN", "PORT", "GIST_MODEL"):
        assert name in text
    assert "Traceback" not in text and "not-a-token" not in text


def test_http_mode_needs_a_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("TWELVELABS_API_KEY", "k")
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        load(Settings)


def test_gist_command_needs_only_twelvelabs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWELVELABS_API_KEY", "tlk_supersecret")
    s: TwelveLabsSettings = load(TwelveLabsSettings)
    assert s.twelvelabs_api_key.get_secret_value() == "tlk_supersecret"
    assert "supersecret" not in repr(s)

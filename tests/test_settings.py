import ast
from pathlib import Path

import pytest

from bot import settings as settings_module
from bot.gist.models import GistType
from bot.gist.vocabulary import TYPE_WORDS, default_types
from bot.settings import Settings, SettingsError, TwelveLabsSettings, load, prepare_folders

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
    assert default_types(s) == GistType.all()
    assert s.gist_model == "pegasus1.5"


def test_env_file_and_lists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-9\nSLACK_APP_TOKEN=xapp-1\nTWELVELABS_API_KEY=k\n"
        "SLACK_FILE_HOSTS=files.slack.com, 127.0.0.1:8080\nSLACK_API_URL=http://127.0.0.1:9/api\n"
        "GIST_DEFAULT_TYPES=Title,tags,hashtag\n"
    )
    s: Settings = load(Settings)
    assert s.socket_mode  # no signing secret needed in Socket Mode
    assert s.slack_file_hosts == ["files.slack.com", "127.0.0.1:8080"]
    assert s.slack_api_url == "http://127.0.0.1:9/api/"
    assert s.gist_default_types == ["title", "hashtag"]  # canonical names, no repeats
    assert default_types(s) == frozenset({GistType.TITLE, GistType.HASHTAG})


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


def test_nothing_configured_names_every_problem_in_one_round() -> None:
    """The mode problem comes with the missing fields, not on a second try."""
    with pytest.raises(SettingsError) as err:
        load(Settings)
    lines = str(err.value).splitlines()
    assert lines[1:] == [
        "  - TWELVELABS_API_KEY: is required: set TWELVELABS_API_KEY in the environment or in .env",
        "  - SLACK_BOT_TOKEN: is required: set SLACK_BOT_TOKEN in the environment or in .env",
        "  - HTTP mode needs SLACK_SIGNING_SECRET; Socket Mode needs SLACK_APP_TOKEN: set one",
    ]


def test_unusable_folders_are_named_with_the_other_problems(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    monkeypatch.setenv("GIST_DB_PATH", str(blocker / "data" / "gistbot.sqlite3"))
    monkeypatch.setenv("GIST_TMP_DIR", str(blocker / "tmp"))
    monkeypatch.setenv("GIST_MAX_FILE_MB", "-1")
    with pytest.raises(SettingsError) as err:
        load(Settings)
    text = str(err.value)
    assert f"GIST_DB_PATH: the folder {blocker / 'data'} can't be created: {blocker} is not" in text
    assert f"GIST_TMP_DIR: the folder {blocker / 'tmp'} can't be created" in text
    assert "GIST_MAX_FILE_MB" in text and "SLACK_BOT_TOKEN" in text and "HTTP mode" in text


def test_a_folder_given_as_the_database_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for k, v in BASE.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GIST_DB_PATH", str(tmp_path))
    with pytest.raises(SettingsError, match=r"GIST_DB_PATH: .* is a folder"):
        load(Settings)


def test_prepare_folders_creates_them_or_names_the_problem(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for k, v in BASE.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GIST_DB_PATH", str(tmp_path / "a" / "b" / "db.sqlite3"))
    monkeypatch.setenv("GIST_TMP_DIR", str(tmp_path / "t"))
    s: Settings = load(Settings)
    assert prepare_folders(s) == []
    assert (tmp_path / "a" / "b").is_dir() and (tmp_path / "t").is_dir()
    # A folder that passed validation but went away and was replaced by a file.
    (tmp_path / "t").rmdir()
    (tmp_path / "t").write_text("")
    problems = prepare_folders(s)
    assert len(problems) == 2 and problems[1].startswith("  - GIST_TMP_DIR: the folder")


def test_settings_accept_exactly_the_shared_type_words() -> None:
    """settings.py can't import the vocabulary (it is a leaf), so it carries a copy."""
    assert settings_module.TYPE_NAMES == {w: t.value for w, t in TYPE_WORDS.items()}


def test_settings_import_nothing_from_the_app() -> None:
    tree = ast.parse(Path(settings_module.__file__).read_text())
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
        elif isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
    assert [m for m in imported if m == "bot" or m.startswith("bot.")] == []


def test_gist_command_needs_only_twelvelabs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWELVELABS_API_KEY", "tlk_supersecret")
    s: TwelveLabsSettings = load(TwelveLabsSettings)
    assert s.twelvelabs_api_key.get_secret_value() == "tlk_supersecret"
    assert "supersecret" not in repr(s)

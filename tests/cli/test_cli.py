"""`gistbot gist` as a user runs it: a subprocess against the fake TwelveLabs server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.videos import make_video

REPO = Path(__file__).resolve().parents[2]
KEY = "tlk-cli-test-key-987"


@pytest.fixture
def fake() -> Iterator[FakeTwelveLabs]:
    fake = FakeTwelveLabs(api_key=KEY, asset_processing_s=0.2, task_processing_s=0.2)
    fake.start()
    yield fake
    fake.stop()


def run_cli(
    fake: FakeTwelveLabs, tmp: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "TWELVELABS_API_KEY": KEY,
        "TWELVELABS_BASE_URL": fake.base_url,
        "GIST_POLL_INITIAL_S": "0.05",
        "GIST_POLL_MAX_INTERVAL_S": "0.2",
        "TWELVELABS_BACKOFF_INITIAL_S": "0.01",
    }
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "gist", *args],
        cwd=tmp, env=base, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_file_to_json_gist(fake: FakeTwelveLabs, tmp_path: Path) -> None:
    video = make_video(5.0, directory=tmp_path, name="team-sync.mp4")
    done = run_cli(fake, tmp_path, str(video), "--json", "--types", "title,hashtag")
    assert done.returncode == 0, done.stderr
    gist = json.loads(done.stdout)
    assert gist["title"] and gist["hashtags"] and gist["topics"] == []
    assert gist["video"]["duration_s"] == pytest.approx(5.0, abs=0.5)
    assert "uploading" in done.stderr and "analysing" in done.stderr  # progress on stderr
    assert KEY not in done.stdout + done.stderr


def test_human_readable_output(fake: FakeTwelveLabs, tmp_path: Path) -> None:
    done = run_cli(fake, tmp_path, str(make_video(5.0, directory=tmp_path, name="a.mp4")))
    assert done.returncode == 0, done.stderr
    assert "Topics:" in done.stdout and "Hashtags:" in done.stdout


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["https://youtu.be/abc"], 2, "YouTube"),
        (["/no/such/file.mp4"], 2, "no such file"),
        (["x.mp4", "--types", "title,colour"], 2, "unknown type"),
        (["x.mp4", "--types", ","], 2, "give at least one of"),
    ],
)
def test_bad_input_exit_code(
    fake: FakeTwelveLabs, tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    done = run_cli(fake, tmp_path, *args)
    assert done.returncode == code
    assert says in done.stderr
    assert fake.calls == []


def test_refusal_and_transient_failure_exit_codes(fake: FakeTwelveLabs, tmp_path: Path) -> None:
    video = str(make_video(5.0, directory=tmp_path, name="b.mp4"))
    bad_key = run_cli(fake, tmp_path, video, TWELVELABS_API_KEY="wrong-key-123456")
    assert bad_key.returncode == 3
    assert "wrong-key-123456" not in bad_key.stderr
    fake.add_fault(Fault("POST", "/assets", "503", times=50))
    storm = run_cli(fake, tmp_path, video, TWELVELABS_MAX_RETRIES="2")
    assert storm.returncode == 4
    assert "Try again" in storm.stderr
    fake.clear_faults()
    short = run_cli(fake, tmp_path, str(make_video(2.0, directory=tmp_path, name="c.mp4")))
    assert short.returncode == 3 and "length" in short.stderr


def test_missing_key_is_a_config_error(tmp_path: Path) -> None:
    video = make_video(5.0, directory=tmp_path, name="d.mp4")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "gist", str(video)],
        cwd=tmp_path, env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 78
    assert "TWELVELABS_API_KEY" in done.stderr and "Traceback" not in done.stderr


def test_base_url_without_version_is_a_config_error(fake: FakeTwelveLabs, tmp_path: Path) -> None:
    video = str(make_video(5.0, directory=tmp_path, name="e.mp4"))
    done = run_cli(fake, tmp_path, video, TWELVELABS_BASE_URL=fake.origin)  # no /v1.3
    assert done.returncode == 78
    assert "TWELVELABS_BASE_URL" in done.stderr and "/v1.3" in done.stderr
    assert "Traceback" not in done.stderr and KEY not in done.stderr
    assert [c.status for c in fake.calls] == [404]  # not retried


def test_type_words_are_the_ones_gist_takes(fake: FakeTwelveLabs, tmp_path: Path) -> None:
    video = str(make_video(5.0, directory=tmp_path, name="e.mp4"))
    done = run_cli(fake, tmp_path, video, "--json", "--types", "titles, Tags")
    assert done.returncode == 0, done.stderr
    gist = json.loads(done.stdout)
    assert gist["types"] == ["title", "hashtag"]
    assert gist["title"] and gist["hashtags"] and gist["topics"] == []


def test_a_file_that_is_not_a_video_is_refused_before_upload(
    fake: FakeTwelveLabs, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("meeting notes: ship the editor on Tuesday\n")
    done = run_cli(fake, tmp_path, str(notes))
    assert done.returncode == 2
    assert "notes.mp4 is not a video: it looks like a text file" in done.stderr
    assert fake.calls == []  # nothing uploaded, nothing paid for


def test_the_video_is_indexed_only_when_asked(fake: FakeTwelveLabs, tmp_path: Path) -> None:
    video = str(make_video(5.0, directory=tmp_path, name="f.mp4"))
    plain = run_cli(fake, tmp_path, video, GIST_INDEX_ENABLED="true")
    assert plain.returncode == 0, plain.stderr
    assert fake.count("POST", "/indexes/{id}/indexed-assets") == 0
    assert fake.count("POST", "/indexes") == 0
    indexed = run_cli(fake, tmp_path, video, "--index")
    assert indexed.returncode == 0, indexed.stderr
    assert fake.count("POST", "/indexes/{id}/indexed-assets") == 1

"""`gistbot run` with a bad configuration: every problem in one round, one line each, exit 78,
no traceback — before anything is contacted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_app(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **env}
    command = [sys.executable, "-m", "bot.cli", "run"]
    return subprocess.run(command, cwd=cwd, env=base, capture_output=True, text=True, timeout=60)


def test_nothing_configured_names_every_problem_at_once(tmp_path: Path) -> None:
    done = run_app(tmp_path)
    assert done.returncode == 78
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 4 and "Traceback" not in done.stderr
    assert "TWELVELABS_API_KEY" in lines[1] and "SLACK_BOT_TOKEN" in lines[2]
    assert lines[3] == (
        "  - HTTP mode needs SLACK_SIGNING_SECRET; Socket Mode needs SLACK_APP_TOKEN: set one"
    )


def test_an_unusable_database_folder_is_named_without_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    done = run_app(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_APP_TOKEN="xapp-1",
        TWELVELABS_API_KEY="k",
        GIST_DB_PATH=str(blocker / "gistbot.sqlite3"),
    )
    assert done.returncode == 78
    assert "Traceback" not in done.stderr
    assert f"GIST_DB_PATH: the folder {blocker} can't be created: {blocker} is not a folder" in (
        done.stderr
    )

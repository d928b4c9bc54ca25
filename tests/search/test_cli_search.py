"""`gistbot search` as a person runs it: a subprocess against the fake TwelveLabs, reading titles
and Slack messages from the job store when there is one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.jobs.rig import TL_KEY
from tests.search.conftest import INDEX, Library

REPO = Path(__file__).resolve().parents[2]


def run_search(
    library: Library, cwd: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "TWELVELABS_API_KEY": TL_KEY,
        "TWELVELABS_BASE_URL": library.fake.base_url or "",
        "TWELVELABS_BACKOFF_INITIAL_S": "0.01",
        "GIST_INDEX_NAME": INDEX,
    }
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "search", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_hits_with_their_times_and_titles_from_the_store(
    library: Library, tmp_path: Path
) -> None:
    await library.add_many([("onboarding-flow.mp4", "C1"), ("budget-plan.mp4", "C2")])
    db = str(tmp_path / "jobs.sqlite3")
    done = run_search(library, tmp_path, "new", "onboarding", "flow", GIST_DB_PATH=db)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    job = library.jobs["onboarding-flow.mp4"]
    assert lines[0] == f"1. Gist of onboarding-flow.mp4  [C1, message {job.slack.source_ts}]"
    assert lines[1].startswith("   0:0") and "–0:0" in lines[1]
    as_json = run_search(library, tmp_path, "onboarding", "--json", GIST_DB_PATH=db)
    doc = json.loads(as_json.stdout)
    [hit] = doc["results"]
    assert doc["status"] == "ok" and hit["job_id"] == job.id and hit["channel"] == "C1"
    assert all(m["end"] > m["start"] for m in hit["moments"])
    narrowed = run_search(library, tmp_path, "plan", "--json", "--in", "C1", GIST_DB_PATH=db)
    assert json.loads(narrowed.stdout)["results"] == []


async def test_without_a_store_and_with_nothing_found(library: Library, tmp_path: Path) -> None:
    await library.add("onboarding-flow.mp4", "C1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_search(library, elsewhere, "onboarding")  # no GIST_DB_PATH file here
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. Untitled video  [C1, message ")  # from its metadata
    assert not (elsewhere / "gistbot.sqlite3").exists()  # a search made no database
    nothing = run_search(library, elsewhere, "zeppelin")
    assert nothing.returncode == 0 and nothing.stdout.strip() == "No results."
    assert run_search(library, elsewhere, "x", "--limit", "0").returncode == 2
    assert run_search(library, elsewhere, *(["word"] * 600)).returncode == 2
    assert TL_KEY not in done.stdout + done.stderr

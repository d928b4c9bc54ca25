"""The Docker image, without a Docker engine: the Dockerfile's rules checked as written, and its
runtime carried out as it would run (a fresh virtualenv installed by the Dockerfile's own RUN
steps, the app started by its CMD as its non-root USER with the data folder, its HEALTHCHECK
command run against it)."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.gist.service import GistService
from tests import dockerfile
from tests.dockerfile import REPO, Stage
from tests.e2e.proc import stored_jobs
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.slack_driver import SlackDriver, message_event
from tests.videos import make_video

DOCKER_STOP_DEFAULT_S = 10.0


@pytest.fixture(scope="module")
def stages() -> tuple[Stage, Stage]:
    build, runtime = dockerfile.parse()
    return build, runtime


def _user(runtime: Stage) -> tuple[int, int]:
    user = runtime.one("USER")
    match = re.fullmatch(r"(\d+):(\d+)", user)
    assert match, f"USER must be numeric uid:gid, not {user!r}"
    return int(match.group(1)), int(match.group(2))


# ------------------------------------------------------------------------- as written


def test_base_image_is_pinned(stages: tuple[Stage, Stage]) -> None:
    for stage in stages:
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", stage.base)


def test_runs_as_a_numeric_non_root_user_owning_the_data_volume(
    stages: tuple[Stage, Stage],
) -> None:
    _, runtime = stages
    uid, gid = _user(runtime)
    assert uid != 0 and gid != 0
    [volume] = dockerfile.exec_form(runtime.one("VOLUME"))
    setup = " ".join(runtime.all("RUN"))
    assert f"mkdir -p {volume}" in setup
    assert f"chown {uid}:{gid} {volume}" in setup
    assert runtime.env()["GIST_DB_PATH"].startswith(volume + "/")


def test_health_check_and_command_are_exec_form(stages: tuple[Stage, Stage]) -> None:
    _, runtime = stages
    options, command = dockerfile.healthcheck(runtime)
    assert command == ["gistbot", "health"]
    assert float(options["timeout"].rstrip("s")) > 4  # `gistbot health` gives up after 4 s
    assert dockerfile.exec_form(runtime.one("CMD")) == ["gistbot", "run"]


def test_dependencies_are_installed_before_the_code_is_copied(
    stages: tuple[Stage, Stage],
) -> None:
    build, _ = stages
    steps = [(kw, args) for kw, args in build.steps if kw in ("COPY", "RUN")]
    first_code = next(i for i, (kw, args) in enumerate(steps) if kw == "COPY" and "bot" in args)
    deps = next(i for i, (kw, args) in enumerate(steps) if "-r requirements.txt" in args)
    assert deps < first_code
    copied_before = " ".join(a for kw, a in steps[:deps] if kw == "COPY").split()
    assert set(copied_before) == {"pyproject.toml", "constraints.txt", "./"}
    for kw, args in steps:
        if kw == "COPY":
            *sources, _ = args.split()
            assert all((REPO / s).exists() for s in sources), args


def test_shutdown_fits_inside_docker_stop(stages: tuple[Stage, Stage]) -> None:
    _, runtime = stages
    assert runtime.one("STOPSIGNAL") == "SIGTERM"
    grace = float(runtime.env()["GIST_SHUTDOWN_GRACE_S"])
    # After the grace, closing waits this long for background indexing requests.
    closing = inspect.signature(GistService.aclose).parameters["timeout_s"].default
    assert grace + closing < DOCKER_STOP_DEFAULT_S - 0.5


def test_dockerignore_keeps_caches_and_secrets_out() -> None:
    patterns = set((REPO / ".dockerignore").read_text().split())
    needed = {".git", ".venv", ".env", "tests", "bench", "**/__pycache__", ".mypy_cache"}
    needed |= {".pytest_cache", ".ruff_cache", "*.sqlite3*", "*.egg-info"}
    assert needed <= patterns


def test_readme_docker_run_publishes_the_port_and_restarts() -> None:
    readme = (REPO / "README.md").read_text()
    [run] = re.findall(r"docker run [^`\n]*(?:\\\n[^`\n]*)*", readme)[:1]
    assert "-p 3000:3000" in run and "--restart unless-stopped" in run
    assert "-v gistbot-data:/home/gistbot/data" in run


# ------------------------------------------------------------------------- as it runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def workspace() -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="gistbot-image-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _base_python(build: Stage, as_user: dict[str, Any]) -> str:
    """A Python of the image's minor version that the image's user may run: it plays the
    base image's /usr/local/bin/python. (This one's may live under /root, closed to others.)"""
    version = re.match(r"python:(\d+\.\d+)\.", build.base)
    assert version, build.base
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    candidates = [os.path.realpath(sys._base_executable), f"/usr/bin/python{version.group(1)}"]
    for candidate in candidates:
        try:
            done = subprocess.run(
                [candidate, "-c", probe], capture_output=True, text=True, timeout=30, **as_user
            )
        except OSError:  # not there, or not for this user
            continue
        if done.returncode == 0 and done.stdout.strip() == version.group(1):
            return candidate
    raise AssertionError(f"no Python {version.group(1)} the image's user can run: {candidates}")


def _build(build: Stage, root: Path, python: str) -> Path:
    """Carry out the build stage: its COPY and RUN steps, /opt/venv mapped into `root`."""
    venv = root / "opt" / "venv"
    shims = root / "shims"
    shims.mkdir()
    (shims / "python").symlink_to(python)
    # This machine's pip settings (index, certificates) stay: they are what Docker's network
    # would be. The pip cache too: it keeps this test's cost down.
    env = {**os.environ, **build.env()}
    env.pop("PIP_NO_CACHE_DIR", None)
    env["PATH"] = f"{shims}:{os.environ['PATH']}"
    cwd = root
    for keyword, args in build.steps:
        if keyword == "WORKDIR":
            cwd = root / args.lstrip("/")
            cwd.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, target = args.split()
            for source in sources:
                dest = cwd / target / source if target.endswith("/") else cwd / target
                if (REPO / source).is_dir():
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(REPO / source, dest, ignore=ignore)
                else:
                    shutil.copy(REPO / source, dest)
        elif keyword == "RUN":
            command = args.replace("/opt/venv", str(venv))
            done = subprocess.run(
                ["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return venv


def _runtime_env(runtime: Stage, root: Path, venv: Path, port: int) -> dict[str, str]:
    home = str(root / "home" / "gistbot")
    env = {"HOME": home, "TMPDIR": str(root / "tmp"), "LANG": "C.UTF-8"}
    for key, value in runtime.env().items():
        value = value.replace("/opt/venv", str(venv)).replace("/home/gistbot", home)
        env[key] = value.replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PORT"] = str(port)
    return env


def _settings_for_fakes(slack: FakeSlack, tl: FakeTwelveLabs) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "image-secret",
        "SLACK_API_URL": slack.api_url,
        "SLACK_FILE_HOSTS": "127.0.0.1",
        "TWELVELABS_API_KEY": tl.api_key,
        "TWELVELABS_BASE_URL": tl.base_url,
        "HOST": "127.0.0.1",
        "GIST_POLL_INITIAL_S": "0.05",
        "GIST_PROGRESS_INTERVAL_S": "0.3",
    }


def _prepare_runtime(runtime: Stage, root: Path) -> tuple[Path, dict[str, Any]]:
    """What the runtime stage's RUN does (useradd aside): a data folder owned by USER.
    Returns it with the subprocess options that run a command as that user."""
    uid, gid = _user(runtime)
    [volume] = dockerfile.exec_form(runtime.one("VOLUME"))
    data = root / volume.lstrip("/")
    data.mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)  # like a container's own /tmp
    if os.getuid() != 0:
        return data, {}  # already a non-root user: run as ourselves
    os.chown(data, uid, gid)
    return data, {"user": uid, "group": gid, "extra_groups": []}


async def _gist_one_upload(slack: FakeSlack, port: int, db: Path) -> None:
    driver = SlackDriver(app_url=f"http://127.0.0.1:{port}", signing_secret="image-secret")
    file = slack.add_file("image.mp4", make_video(5.0).read_bytes(), channel="C0001")
    await driver.post_event(message_event("C0001", "1700009000.000100", "", files=[file]))
    await driver.aclose()
    for _ in range(600):
        if any(j["state"] == "done" for j in stored_jobs(db)):
            break
        await asyncio.sleep(0.05)
    assert [j["state"] for j in stored_jobs(db)] == ["done"]


@pytest.mark.image
def test_the_image_runtime_works_as_its_non_root_user(
    stages: tuple[Stage, Stage], workspace: Path, tmp_path: Path
) -> None:
    build, runtime = stages
    data, as_user = _prepare_runtime(runtime, workspace)
    venv = _build(build, workspace, _base_python(build, as_user))
    cwd = workspace / runtime.one("WORKDIR").lstrip("/")
    command = dockerfile.exec_form(runtime.one("CMD"))
    _, health = dockerfile.healthcheck(runtime)
    # Docker finds them on the image's PATH; here the venv is not where the image has it.
    command[0], health[0] = str(venv / "bin" / command[0]), str(venv / "bin" / health[0])
    slack = FakeSlack(bot_token="xoxb-image-test")
    tl = FakeTwelveLabs(api_key="tlk-image", asset_processing_s=0.2, task_processing_s=0.2)
    with slack, tl:
        port = _free_port()
        env = _runtime_env(runtime, workspace, venv, port) | _settings_for_fakes(slack, tl)
        log_path = tmp_path / "app.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log, **as_user
            )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            assert line.startswith("gistbot ready on"), log_path.read_text()
            check = subprocess.run(
                health, env=env, capture_output=True, text=True, timeout=30, **as_user
            )
            assert check.returncode == 0, check.stderr
            db = Path(env["GIST_DB_PATH"])
            assert db.parent == data
            asyncio.run(_gist_one_upload(slack, port, db))
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            assert 'gistbot_jobs_finished_total{result="fresh",trigger="passive"} 1.0' in metrics
            assert db.stat().st_uid == as_user.get("user", os.getuid())  # the image's user
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=DOCKER_STOP_DEFAULT_S) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    after = subprocess.run(health, env=env, capture_output=True, text=True, timeout=30)
    assert after.returncode == 1  # nothing answers now: unhealthy

"""Shared pieces: run `gistbot gist` as a subprocess, sample its memory, write results.

Every timestamp here is `time.monotonic()` (CLOCK_MONOTONIC on Linux: one clock for the whole
machine), so it compares directly with the fake's `Call.at` and `mark_task_ready_at`, whether
the fake runs in this process or in another one.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psutil  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "bench" / "out"
MIB = 1024 * 1024


def gistbot_exe() -> Path:
    """The `gistbot` console script of the interpreter running the benchmark (the venv's)."""
    here = Path(sys.executable).parent / "gistbot"
    return here if here.exists() else REPO / ".venv" / "bin" / "gistbot"


def cli_env(api_key: str, base_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An explicit environment (like `env -i`): PATH, HOME and the TwelveLabs settings only."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "TWELVELABS_API_KEY": api_key,
        "TWELVELABS_BASE_URL": base_url,
    }
    env.update(extra or {})
    return env


@dataclass
class Sample:
    t: float  # monotonic
    rss: int  # bytes, the process and all its descendants
    cpu_s: float  # user + system CPU seconds of the CLI process so far
    hwm: int | None  # VmHWM of the CLI process (kernel high-water mark of RSS), bytes


@dataclass
class CliRun:
    argv: list[str]
    started: float
    ended: float
    returncode: int
    stdout: str
    stderr_lines: list[tuple[float, str]]
    stdout_first_at: float | None
    stdout_eof_at: float | None
    samples: list[Sample] = field(default_factory=list)
    cpu_user_s: float | None = None
    cpu_sys_s: float | None = None
    timed_out: bool = False

    def first_stderr(self, prefix: str) -> float | None:
        for at, line in self.stderr_lines:
            if line.lstrip().startswith(prefix):
                return at
        return None

    def json_out(self) -> dict[str, Any] | None:
        try:
            doc = json.loads(self.stdout)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None


def _vm_hwm(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class Sampler(threading.Thread):
    """Every `interval_s`: RSS of `pid` and its descendants, its CPU time and its VmHWM."""

    def __init__(self, pid: int, interval_s: float) -> None:
        super().__init__(name=f"sampler-{pid}", daemon=True)
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            proc = psutil.Process(self.pid)
        except psutil.Error:
            return
        next_at = time.monotonic()
        while not self.stop.is_set():
            try:
                rss = int(proc.memory_info().rss)
                cpu = proc.cpu_times()
                for child in proc.children(recursive=True):
                    try:
                        rss += int(child.memory_info().rss)
                    except psutil.Error:
                        pass
                hwm = _vm_hwm(self.pid)
            except psutil.Error:
                return  # gone (or a zombie): nothing more to read
            if hwm is None:  # exited between the two reads
                return
            self.samples.append(
                Sample(time.monotonic(), rss, float(cpu.user) + float(cpu.system), hwm)
            )
            next_at += self.interval_s
            self.stop.wait(max(0.0, next_at - time.monotonic()))


def _read_lines(stream: IO[bytes], sink: list[tuple[float, str]]) -> None:
    for raw in iter(stream.readline, b""):
        sink.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))


def _read_all(stream: IO[bytes], sink: list[bytes], stamps: list[float]) -> None:
    fd = stream.fileno()
    while True:
        data = os.read(fd, 65536)
        if not data:
            stamps.append(time.monotonic())  # EOF
            return
        if not sink:
            stamps.append(time.monotonic())  # first byte
        sink.append(data)


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float,
    sample_interval_s: float | None = None,
) -> CliRun:
    """Run `gistbot <args>`; bounded by `timeout_s` (then killed). Optionally sample its RSS."""
    argv = [str(gistbot_exe()), *args]
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    sampler = Sampler(proc.pid, sample_interval_s) if sample_interval_s else None
    if sampler is not None:
        sampler.start()
    out_chunks: list[bytes] = []
    out_stamps: list[float] = []
    err_lines: list[tuple[float, str]] = []
    readers = [
        threading.Thread(target=_read_all, args=(proc.stdout, out_chunks, out_stamps), daemon=True),
        threading.Thread(target=_read_lines, args=(proc.stderr, err_lines), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        deadline = started + timeout_s
        timed_out = False
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                timed_out = True
                break
        if timed_out:
            proc.kill()  # only the process this function started
        # wait4() on this one pid: exit status and CPU times. (Not ru_maxrss: a child started
        # with vfork+exec inherits the parent's peak RSS there, so it says nothing about the CLI.)
        while True:
            pid, status, usage = os.wait4(proc.pid, 0 if timed_out else os.WNOHANG)
            if pid == proc.pid:
                break
            if time.monotonic() >= deadline:
                timed_out = True
                proc.kill()
            else:
                time.sleep(0.01)
    except BaseException:  # interrupted: don't leave the CLI running
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    ended = time.monotonic()
    for reader in readers:
        reader.join(5)
    proc.stdout.close()
    proc.stderr.close()
    if sampler is not None:
        sampler.stop.set()
        sampler.join(5)
    first = out_stamps[0] if len(out_stamps) == 2 else None
    eof = out_stamps[-1] if out_stamps else None
    return CliRun(
        argv=argv,
        started=started,
        ended=ended,
        returncode=proc.returncode,
        stdout=b"".join(out_chunks).decode("utf-8", "replace"),
        stderr_lines=err_lines,
        stdout_first_at=first,
        stdout_eof_at=eof,
        samples=sampler.samples if sampler is not None else [],
        cpu_user_s=usage.ru_utime,
        cpu_sys_s=usage.ru_stime,
        timed_out=timed_out,
    )


def mib(n: float | None) -> float | None:
    return None if n is None else round(n / MIB, 2)


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write `bench/out/<name>-<UTC timestamp>.json` and `bench/out/<name>-latest.json`."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    path = OUT_DIR / f"{name}-{stamp}.json"
    path.write_text(text, encoding="utf-8")
    (OUT_DIR / f"{name}-latest.json").write_text(text, encoding="utf-8")
    return path


def machine_info() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "platform": sys.platform,
        "mem_total_mib": mib(psutil.virtual_memory().total),
        "page_size": resource.getpagesize(),
        # Other work on the machine skews the throughput figures (not the memory or call counts).
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "at_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@dataclass
class ServerProcess:
    """A helper server in its own process (so its memory and CPU are not the CLI's)."""

    proc: subprocess.Popen[bytes]
    first_line: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_server(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout_s: float = 30.0,
    stderr_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """Start `argv`, wait (bounded) for the first line it prints on stdout, return both."""
    err: IO[bytes] | int = subprocess.DEVNULL
    if stderr_path is not None:
        err = stderr_path.open("wb")
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    finally:
        if not isinstance(err, int):
            err.close()
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                proc.kill()
                proc.wait(10)
                raise RuntimeError(f"{argv[:4]} did not start (nothing printed in {timeout_s}s)")
            if sel.select(min(remaining, 0.5)):
                data = os.read(fd, 4096)
                if not data:
                    proc.kill()
                    proc.wait(10)
                    raise RuntimeError(f"{argv[:4]} closed its stdout before printing a line")
                buf += data
    return ServerProcess(proc, buf.split(b"\n", 1)[0].decode().strip())

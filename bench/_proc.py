"""Subprocesses of the benchmarks: helper servers started until they print a ready line,
`gistbot gist` runs with their timing, memory and CPU, and CPU meters over a span.

Every timestamp here is `time.monotonic()` (CLOCK_MONOTONIC on Linux: one clock for the whole
machine), so it compares directly with the fake's `Call.at` and `mark_task_ready_at`, whether
the fake runs in this process or in another one.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil  # type: ignore[import-untyped]

from bench._common import gistbot_exe

# --------------------------------------------------------------------------- helper servers


@dataclass
class Child:
    """A process started by `start_child`: `first_line` is its ready line, `lines` what it
    printed on stdout after that."""

    name: str
    proc: subprocess.Popen[bytes]
    first_line: str
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM this child (only it), then SIGKILL it if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def _drain(stream: IO[bytes], sink: list[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode("utf-8", "replace").rstrip("\n"))


def _ready_line(
    proc: subprocess.Popen[bytes], ready: str, timeout_s: float
) -> tuple[str | None, str]:
    """Read stdout until a line starting with `ready` (empty: the first line); return it
    (None when the process exits or the time is up) and why not."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").strip()
                if text.startswith(ready):
                    return text, ""
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, f"nothing ready in {timeout_s:g}s"
            if proc.poll() is not None:
                return None, f"exited with {proc.returncode}"
            if sel.select(min(remaining, 0.5)):
                data = os.read(fd, 65536)
                if not data:
                    return None, "closed its stdout"
                buf += data


def start_child(
    name: str,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stderr_path: Path | None = None,
    ready: str = "",
    timeout_s: float = 30.0,
) -> Child:
    """Start `argv` (in a session of its own, so a Ctrl-C reaches only the benchmark, which
    then stops it); wait, bounded, for a stdout line starting with `ready` (default: the first
    line); keep draining stdout after that. stderr goes to `stderr_path` (or nowhere)."""
    err: IO[bytes] | int = subprocess.DEVNULL if stderr_path is None else stderr_path.open("wb")
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    finally:
        if not isinstance(err, int):
            err.close()
    first, why = _ready_line(proc, ready, timeout_s)
    if first is None:
        proc.kill()
        proc.wait(10)
        tail = stderr_path.read_text("utf-8", "replace")[-2000:] if stderr_path else ""
        raise RuntimeError(f"{name} did not start ({why}): {list(argv)[:4]}\n{tail}")
    assert proc.stdout is not None
    child = Child(name, proc, first)
    threading.Thread(target=_drain, args=(proc.stdout, child.lines), daemon=True).start()
    return child


# --------------------------------------------------------------------------- CPU meters


def cpu_seconds(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return 0.0


class CpuMeter:
    """CPU use of each of our processes and of everything else on the machine, and the
    machine's disk writes, over a span: what else competed with the app."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.wall = time.perf_counter()
        self.ours = {k: cpu_seconds(p) for k, p in pids.items()}
        self.system = psutil.cpu_times()
        self.disk = self._written()

    @staticmethod
    def _written() -> int:
        io = psutil.disk_io_counters()
        return int(io.write_bytes) if io is not None else 0

    def read(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall
        ours = {k: cpu_seconds(p) - self.ours[k] for k, p in self.pids.items()}
        now = psutil.cpu_times()
        idle = (now.idle + getattr(now, "iowait", 0.0)) - (
            self.system.idle + getattr(self.system, "iowait", 0.0)
        )
        busy = (sum(now) - sum(self.system)) - idle
        cpus = os.cpu_count() or 1
        out: dict[str, Any] = {k: round(100.0 * v / wall, 1) for k, v in ours.items()}
        out["machine_busy"] = round(100.0 * busy / wall, 1)
        out["machine_capacity"] = 100 * cpus
        out["others"] = round(100.0 * (busy - sum(ours.values())) / wall, 1)
        out["loadavg_1m"] = round(os.getloadavg()[0], 2)
        out["disk_write_mib_per_s"] = round((self._written() - self.disk) / wall / 2**20, 1)
        return out


# --------------------------------------------------------------------------- `gistbot gist` runs


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

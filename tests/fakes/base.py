"""The loopback server both fakes build on: an aiohttp app on its own thread and event loop.

Running the server on a thread of its own lets sync tests, async tests (on any loop) and plain
scripts all use a fake, and the code under test talks to it over real HTTP. A subclass supplies
its routes (`_add_routes`), optional middlewares and `/_fake/...` control routes; the base
owns start/stop, the port and URLs, the lock, the call log and chaos mode (`tests.fakes.chaos`,
controlled over HTTP at `/_fake/chaos`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Self, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tests.fakes.chaos import Chaos, ChaosConfig, add_control_routes

logger = logging.getLogger("tests.fakes")

CallT = TypeVar("CallT")
T = TypeVar("T")
Route = tuple[str, str, Handler]  # (HTTP method, path, handler)

CONTROL_PREFIX = "/_fake"
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")


class LoopbackServer(Generic[CallT]):
    """Start/stop, URLs, a lock, a log of `CallT` records and chaos mode for one fake."""

    thread_name: ClassVar[str] = "fake"
    client_max_size: ClassVar[int] = 16 * 1024 * 1024
    url_suffix: ClassVar[str] = "/"
    """What `start()` appends to `origin` to make the URL it returns."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._calls: list[CallT] = []
        self._chaos = Chaos()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

    # ------------------------------------------------------------------ subclass hooks

    def _add_routes(self, app: web.Application) -> None:
        """Register the fake's API routes (order matters where templates overlap)."""

    def _control_routes(self) -> Sequence[Route]:
        """Routes under `/_fake` (inspection and control; chaos never touches them)."""
        return ()

    def _middlewares(self) -> Sequence[Middleware]:
        return ()

    def _on_start(self) -> None:
        """Called before the server starts (e.g. to make a work directory)."""

    def _on_stopped(self) -> None:
        """Called once the server and its loop are gone."""

    async def _before_cleanup(self) -> None:
        """Runs on the server's loop just before the server shuts down."""

    # ------------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: any free port); return ``origin + url_suffix``."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._on_start()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._run_loop, args=(loop,), name=self.thread_name, daemon=True
        )
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(host, port), loop).result(timeout=30)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
            self._on_stopped()
            raise
        self._loop, self._thread = loop, thread
        url = self.origin + self.url_suffix
        logger.info("%s listening on %s", type(self).__name__, url)
        return url

    def stop(self) -> None:
        """Stop serving (idempotent). The port and URLs stay readable."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if thread.is_alive():
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = self._runner = None
            self._on_stopped()

    def __enter__(self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    async def _serve(self, host: str, port: int) -> None:
        app = web.Application(
            middlewares=list(self._middlewares()), client_max_size=self.client_max_size
        )
        self._add_routes(app)
        for method, path, handler in self._control_routes():
            app.router.add_route(method, CONTROL_PREFIX + path, handler)
        add_control_routes(app, self._chaos, CONTROL_PREFIX + "/chaos")
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])

    async def _shutdown(self) -> None:
        await self._before_cleanup()
        if self._runner is not None:
            await self._runner.cleanup()

    def _run_in_loop(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run `coro` on the server's loop from another thread and wait for its result."""
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError(f"{type(self).__name__} is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    # ------------------------------------------------------------------ where it listens

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def host(self) -> str:
        return self._host

    @property
    def origin(self) -> str:
        """``http://HOST:PORT`` (wildcard binds are reported as 127.0.0.1)."""
        if not self._port:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        host = "127.0.0.1" if self._host in _WILDCARD_HOSTS else self._host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}"

    # ------------------------------------------------------------------ the call log

    def _record_call(self, call: CallT) -> None:
        with self._lock:
            self._calls.append(call)

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        interval: float = 0.02,
        what: str = "condition",
    ) -> T:
        """Poll ``predicate`` until it returns something truthy; return it.

        Raises ``TimeoutError`` after ``timeout`` seconds. Example:
        ``await fake.wait_for(lambda: fake.thread("C1", ts))``.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(interval)

    # ------------------------------------------------------------------ chaos mode

    def chaos(
        self,
        p: float | None,
        *,
        seed: int | None = None,
        kinds: Mapping[str, float] | Iterable[str] | None = None,
        endpoints: Iterable[str] | None = None,
        retry_after_s: int = 1,
        stall_s: tuple[float, float] = (2.0, 4.0),
    ) -> ChaosConfig | None:
        """Chaos mode: a seeded share ``p`` of API requests fail with one of ``kinds`` (see
        ``tests.fakes.chaos``; default: all that apply to the fake). ``endpoints`` limits it
        to some, named as the fake names them (Slack: Web API method names, ``"files"``,
        ``"response_url"``; TwelveLabs: ``"METHOD /template"``, e.g. ``"POST /assets"``).
        ``/_fake/*`` never fails. ``chaos(None)`` turns it off; turning it on resets the
        counts."""
        return self._chaos.configure(
            p,
            seed=seed,
            kinds=kinds,
            endpoints=endpoints,
            retry_after_s=retry_after_s,
            stall_s=stall_s,
        )

    def chaos_counts(self) -> dict[str, int]:
        """Faults chaos mode injected, by kind."""
        return self._chaos.counts()

    def chaos_report(self) -> dict[str, Any]:
        """Chaos configuration, requests considered, injected faults by kind and endpoint."""
        return self._chaos.report()

"""Random faults ("chaos mode") shared by the fakes: a seeded share `p` of the requests on every
API endpoint fail with one kind from a configurable mix, and every injected fault is counted.

Kinds (each fake applies the ones that exist on each of its surfaces):

=============  ===============================================================================
``429``        HTTP 429 with ``Retry-After``; not carried out
``429-bare``   HTTP 429 without ``Retry-After`` (TwelveLabs: an empty body); not carried out
``5xx``        HTTP 500, 502 or 503 with the gateway's or the service's body; not carried out
``error``      Slack Web API only: HTTP 200 ``{"ok": false, "error": "internal_error"}`` (or
               ``fatal_error``, ``service_unavailable``, ``request_timeout``); not carried out
``drop``       the connection is closed before the request is handled
``after-5xx``  the request IS carried out (the message posted, the asset created), then the
               answer is HTTP 502
``after-drop`` the request IS carried out, then the connection is closed with no answer
``stall``      answered normally, but only after 2–4 s
``mid-body``   Slack file downloads only: the body stops partway and the connection closes
=============  ===============================================================================

The fakes' own control and inspection endpoints (``/_fake/...``, state pages) never fail.
"""

from __future__ import annotations

import argparse
import random
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")

KINDS = (
    "429",
    "429-bare",
    "5xx",
    "error",
    "drop",
    "after-5xx",
    "after-drop",
    "stall",
    "mid-body",
)
CARRIED_OUT = frozenset({"after-5xx", "after-drop", "stall"})
"""Kinds whose request is carried out (the others fail before anything happens)."""


@dataclass(frozen=True)
class ChaosConfig:
    p: float
    seed: int
    kinds: dict[str, float]  # kind → weight
    endpoints: frozenset[str] | None = None  # None: every endpoint
    retry_after_s: int = 1
    stall_s: tuple[float, float] = (2.0, 4.0)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["endpoints"] = None if self.endpoints is None else sorted(self.endpoints)
        out["stall_s"] = list(self.stall_s)
        return out


@dataclass(frozen=True)
class Injected:
    """One fault chosen for one request. `roll` is a seeded uniform [0, 1) the fake uses to
    pick variants (which 5xx status, which Slack error, where a body is cut)."""

    kind: str
    endpoint: str
    roll: float
    retry_after_s: int = 1
    stall_s: float = 0.0

    @property
    def carried_out(self) -> bool:
        return self.kind in CARRIED_OUT

    @property
    def after_effect(self) -> bool:
        return self.kind in ("after-5xx", "after-drop")

    def choose(self, options: Sequence[T]) -> T:
        return options[min(int(self.roll * len(options)), len(options) - 1)]


def _weights(kinds: Mapping[str, float] | Iterable[str] | None) -> dict[str, float]:
    if kinds is None:
        chosen: dict[str, float] = dict.fromkeys(KINDS, 1.0)
    elif isinstance(kinds, Mapping):
        chosen = {str(k): float(v) for k, v in kinds.items()}
    else:
        chosen = dict.fromkeys((str(k) for k in kinds), 1.0)
    unknown = sorted(set(chosen) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown chaos kind(s) {unknown}; known: {', '.join(KINDS)}")
    if not chosen or any(w < 0 for w in chosen.values()) or sum(chosen.values()) <= 0:
        raise ValueError("chaos kinds need at least one positive weight")
    return chosen


@dataclass
class _Tally:
    seen: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_endpoint: dict[str, Counter[str]] = field(default_factory=dict)


class Chaos:
    """Thread-safe: the fakes serve from their own thread while tests read the counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config: ChaosConfig | None = None
        self._rng = random.Random()
        self._tally = _Tally()

    def configure(
        self,
        p: float | None,
        *,
        seed: int | None = None,
        kinds: Mapping[str, float] | Iterable[str] | None = None,
        endpoints: Iterable[str] | None = None,
        retry_after_s: int = 1,
        stall_s: tuple[float, float] = (2.0, 4.0),
    ) -> ChaosConfig | None:
        """Turn chaos on with share `p` (0–1) and reset the counts, or off with `p=None`
        (the counts stay readable). `kinds`: names (equal weights) or name → weight."""
        if p is None:
            with self._lock:
                self._config = None
            return None
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError("p must be between 0 and 1")
        low, high = (float(x) for x in stall_s)
        if not 0.0 <= low <= high:
            raise ValueError("stall_s must be (low, high) with 0 <= low <= high")
        config = ChaosConfig(
            p=float(p),
            seed=random.randrange(2**31) if seed is None else int(seed),
            kinds=_weights(kinds),
            endpoints=None if endpoints is None else frozenset(endpoints),
            retry_after_s=int(retry_after_s),
            stall_s=(low, high),
        )
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._tally = _Tally()
        return config

    @property
    def config(self) -> ChaosConfig | None:
        with self._lock:
            return self._config

    def pick(self, endpoint: str, allowed: Collection[str]) -> Injected | None:
        """Decide the fate of one request on `endpoint`; `allowed` are the kinds that exist
        there. None: handle it normally."""
        with self._lock:
            config = self._config
            if config is None or endpoint not in (config.endpoints or {endpoint}):
                return None
            self._tally.seen += 1
            if self._rng.random() >= config.p:
                return None
            options = [(k, w) for k, w in config.kinds.items() if k in allowed and w > 0]
            if not options:
                return None
            kind = self._rng.choices([k for k, _ in options], [w for _, w in options])[0]
            roll = self._rng.random()
            low, high = config.stall_s
            self._tally.by_kind[kind] += 1
            self._tally.by_endpoint.setdefault(endpoint, Counter())[kind] += 1
            return Injected(
                kind=kind,
                endpoint=endpoint,
                roll=roll,
                retry_after_s=config.retry_after_s,
                stall_s=low + (high - low) * roll if kind == "stall" else 0.0,
            )

    def counts(self) -> dict[str, int]:
        """Injected faults by kind since chaos was last turned on."""
        with self._lock:
            return dict(self._tally.by_kind)

    def report(self) -> dict[str, Any]:
        """Configuration, requests considered, and injected faults by kind and by endpoint."""
        with self._lock:
            return {
                "config": None if self._config is None else self._config.as_json(),
                "seen": self._tally.seen,
                "injected": dict(self._tally.by_kind),
                "injected_total": sum(self._tally.by_kind.values()),
                "by_endpoint": {e: dict(c) for e, c in sorted(self._tally.by_endpoint.items())},
            }

    def configure_json(self, body: Any) -> None:
        """`configure` from a control-surface body: {"p": 0.15, "seed": 1, "kinds": [...] or
        {...}, "endpoints": [...], "retry_after_s": 1, "stall_s": [2, 4]}; "p": null is off."""
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        unknown = set(body) - {"p", "seed", "kinds", "endpoints", "retry_after_s", "stall_s"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}")
        stall = body.get("stall_s", (2.0, 4.0))
        if not isinstance(stall, list | tuple) or len(stall) != 2:
            raise ValueError("stall_s must be [low, high]")
        self.configure(
            body.get("p"),
            seed=body.get("seed"),
            kinds=body.get("kinds"),
            endpoints=body.get("endpoints"),
            retry_after_s=int(body.get("retry_after_s", 1)),
            stall_s=(float(stall[0]), float(stall[1])),
        )


def drop_connection(request: web.Request) -> web.Response:
    """Close the connection without an answer (aiohttp then fails to write and gives up)."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


def add_control_routes(app: web.Application, chaos: Chaos, path: str = "/_fake/chaos") -> None:
    """GET: the report; POST: configure (JSON body as in `Chaos.configure_json`); DELETE: off."""

    async def get(request: web.Request) -> web.Response:
        return web.json_response(chaos.report())

    async def post(request: web.Request) -> web.Response:
        try:
            chaos.configure_json(await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"code": "parameter_invalid", "message": str(exc)}, status=400)
        return web.json_response(chaos.report())

    async def delete(request: web.Request) -> web.Response:
        chaos.configure(None)
        return web.json_response(chaos.report())

    app.router.add_get(path, get)
    app.router.add_post(path, post)
    app.router.add_delete(path, delete)


def add_cli_options(parser: argparse.ArgumentParser) -> None:
    """``--chaos P [--chaos-seed N] [--chaos-kinds a,b]`` for a fake's standalone entry point."""
    parser.add_argument(
        "--chaos",
        type=float,
        default=None,
        metavar="P",
        help="chaos mode: this share of API requests fail at random",
    )
    parser.add_argument("--chaos-seed", type=int, default=None)
    parser.add_argument(
        "--chaos-kinds",
        default=None,
        help=f"comma list of fault kinds (default all): {','.join(KINDS)}",
    )


def cli_settings(args: argparse.Namespace) -> dict[str, Any] | None:
    """The keyword arguments of ``fake.chaos(...)`` the options ask for (None: chaos off)."""
    if args.chaos is None:
        return None
    kinds = None
    if args.chaos_kinds:
        kinds = [k.strip() for k in args.chaos_kinds.split(",") if k.strip()]
    return {"p": args.chaos, "seed": args.chaos_seed, "kinds": kinds}

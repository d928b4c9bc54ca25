"""Chaos mode on the fake TwelveLabs API: each random fault (see `tests/fakes/chaos.py`) is
carried out as one of the fake's targeted `Fault`s, so both share one code path and one look."""

from __future__ import annotations

from tests.fakes.chaos import Injected
from tests.fakes.twelvelabs.state import Fault

API_KINDS = frozenset({"429", "429-bare", "5xx", "drop", "after-5xx", "after-drop", "stall"})

_AS_FAULT_KIND = {
    "429": "429",
    "429-bare": "429-empty",  # the reference: TwelveLabs' 429 may come with an empty body
    "drop": "drop",
    "after-drop": "drop-after",
    "after-5xx": "502-after",
    "stall": "delay",
}


def endpoint(method: str, template: str) -> str:
    """How chaos names an endpoint, e.g. "POST /assets" or "GET /analyze/tasks/{id}"."""
    return f"{method.upper()} {template}"


def as_fault(injected: Injected) -> Fault:
    kind = _AS_FAULT_KIND.get(injected.kind) or injected.choose(("500", "502", "503"))
    return Fault(
        method="*",
        path="*",
        kind=kind,
        retry_after=str(injected.retry_after_s) if injected.kind == "429" else None,
        delay_s=injected.stall_s,
    )

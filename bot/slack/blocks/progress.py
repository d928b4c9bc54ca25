"""The placeholder while a job works: phase, percent, elapsed time, the steps."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.jobs.phases import Phase
from bot.slack.blocks._base import (
    NAME_MAX,
    NOTE_MAX,
    Message,
    _context,
    _duration,
    _fallback,
    _md,
    _mention,
    _plain,
    _section,
)

_PHASE_EMOJI = {
    Phase.QUEUED: ":hourglass:",
    Phase.DOWNLOADING: ":hourglass_flowing_sand:",
    Phase.UPLOADING: ":hourglass_flowing_sand:",
    Phase.PROCESSING: ":hourglass_flowing_sand:",
    Phase.ANALYSING: ":hourglass_flowing_sand:",
}


def progress_message(
    *,
    phase: Phase,
    source_name: str,
    elapsed_s: float,
    percent: float | None = None,
    requester_id: str | None = None,
    note: str | None = None,
    steps: Sequence[Phase] | None = None,
) -> Message:
    """A one-line status, e.g. ":hourglass_flowing_sand: Uploading *clip.mp4* — 42% · 0:17
    elapsed", and a context line with the steps (✓ done · ▶ current · pending). `steps`
    defaults to every phase; pass the ones this source goes through (a link skips
    `DOWNLOADING`)."""
    phase = Phase(phase)
    shown = list(dict.fromkeys(steps)) if steps else list(Phase)
    if phase not in shown:
        shown = list(Phase)
    name_md = _md(source_name, NAME_MAX) or "video"
    name_plain = _plain(source_name, NAME_MAX) or "video"
    pct = None
    if percent is not None and math.isfinite(percent):
        pct = f"{int(min(max(percent, 0.0), 100.0))}%"
    elapsed = _duration(elapsed_s) or "0:00"

    line = f"{_PHASE_EMOJI[phase]} {phase.label} *{name_md}*"
    plain = f"{phase.label} {name_plain}"
    if pct:
        line += f" — {pct}"
        plain += f" — {pct}"
    line += f" · {elapsed} elapsed"
    plain += f" · {elapsed} elapsed"
    note_md = _md(note, NOTE_MAX, multiline=True) if note else ""
    if note_md:
        line += f"\n{note_md}"

    current = shown.index(phase)
    marks = []
    for i, step in enumerate(shown):
        if i < current:
            marks.append(f"✓ {step.label}")
        elif i == current:
            marks.append(f"▶ *{step.label}*")
        else:
            marks.append(step.label)
    context = [" · ".join(marks)]
    who = _mention(requester_id)
    if who:
        context.append(f"requested by {who}")
    return Message(text=_fallback(plain), blocks=[_section(line), _context(*context)])


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------

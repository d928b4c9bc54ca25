"""`make demo`'s main path, run once: fakes, the app as a process, an upload and a link, each
shown to its reply; then the --keep loop with a line of each kind, ended by end of input."""

from __future__ import annotations

import io
from pathlib import Path

from tests import demo
from tests.videos import make_video


async def test_the_demo_shows_two_gists_and_takes_more_in_keep_mode(tmp_path: Path) -> None:
    again = make_video(6.0, width=640, height=360, directory=tmp_path, name="standup-copy.mp4")
    typed = io.StringIO(f"{again}\n/gist help\n")
    out = io.StringIO()
    code = await demo.run(out, keep=True, processing_s=(0.2, 0.3), stdin=typed)
    text = out.getvalue()
    assert code == 0, text
    walkthrough, _, kept = text.partition("Still running.")
    assert "#demo  ana: here's today's standup  📎 team-standup.mp4" in walkthrough
    assert "↳ gistbot: ⌛ Queued team-standup.mp4" in walkthrough  # a progress edit
    assert walkthrough.count("[ Regenerate ]") == 2
    assert "│ Team Standup" in walkthrough and "│ Launch Teaser" in walkthrough
    assert walkthrough.count("reactions on ana's message: ✅") == 2
    assert "Both videos have their gist." in walkthrough
    # --keep: the same bytes again are answered from the cache; /gist help only to the sender.
    assert "📎 standup-copy.mp4" in kept and "from cache" in kept
    assert "(only you can see this) How to ask" in kept
    assert text.rstrip().endswith("gistbot stopped (exit 0).")

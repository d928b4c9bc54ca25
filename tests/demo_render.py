"""Block Kit as a person sees it in Slack, drawn in a terminal: header in bold, mrkdwn made
readable (links, mentions, emoji), context dimmed, buttons as [ Regenerate ], in a box."""

from __future__ import annotations

import re
import textwrap
import unicodedata
from typing import Any

JSONDict = dict[str, Any]

EMOJI = {
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "white_check_mark": "✅",
    "x": "❌",
    "eyes": "👀",
    "film_frames": "🎞",
    "warning": "⚠",
    "arrows_counterclockwise": "🔄",
    "rotating_light": "🚨",
    "bar_chart": "📊",
    "mag": "🔍",
}

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def bold(self, s: str) -> str:
        return f"\x1b[1m{s}\x1b[22m" if self.color else s

    def dim(self, s: str) -> str:
        return f"\x1b[2m{s}\x1b[22m" if self.color else s


def cells(s: str) -> int:
    """Terminal columns `s` takes: wide characters (most emoji) take two, escapes none."""
    s = re.sub(r"\x1b\[[0-9;]*m", "", s)
    return sum(_cell(c) for c in s)


def _cell(c: str) -> int:
    if unicodedata.combining(c) or c == "\ufe0f":
        return 0
    # Pictographs (🎞 …) are drawn two columns wide even where Unicode calls them narrow.
    return 2 if unicodedata.east_asian_width(c) in "WF" or ord(c) >= 0x1F000 else 1


def emoji(s: str) -> str:
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), s)


def mrkdwn(s: str, style: Style) -> str:
    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith(("@", "#")):
            return label or target
        if target.startswith("!"):
            return "@" + target[1:]
        return label or target

    s = _LINK.sub(link, s)
    s = s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    s = _BOLD.sub(lambda m: style.bold(m.group(1)), s)
    s = _ITALIC.sub(lambda m: m.group(1), s)
    return emoji(s)


def _text(obj: JSONDict | None, style: Style) -> str:
    if not obj:
        return ""
    text = str(obj.get("text", ""))
    return mrkdwn(text, style) if obj.get("type") == "mrkdwn" else emoji(text)


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        lines.extend(textwrap.wrap(para, width, break_long_words=True) or [""])
    return lines


def block_lines(block: JSONDict, width: int, style: Style) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [style.bold(line) for line in _wrap(_text(block.get("text"), style), width)]
    if kind == "section":
        lines = _wrap(_text(block.get("text"), style), width)
        for field in block.get("fields") or []:
            lines += _wrap(_text(field, style), width)
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "image":
            lines.append(style.dim(f"[image: {accessory.get('alt_text', 'thumbnail')}]"))
        elif accessory.get("type") == "button":
            lines.append(f"[ {_text(accessory.get('text'), style)} ]")
        return lines
    if kind == "context":
        parts = [_text(e, style) if "text" in e else "[image]" for e in block["elements"]]
        return [style.dim(line) for line in _wrap("  ".join(parts), width)]
    if kind == "actions":
        buttons = [f"[ {_text(e.get('text'), style)} ]" for e in block["elements"]]
        return _wrap("  ".join(buttons), width)
    if kind == "divider":
        return ["─" * width]
    if kind == "image":
        return [style.dim(f"[image: {block.get('alt_text', '')}]")]
    return [style.dim(f"[{kind} block]")]


def render_message(
    blocks: list[JSONDict] | None, text: str, *, width: int = 72, color: bool = False
) -> list[str]:
    """The message in a box, as Slack would lay it out (text when there are no blocks)."""
    style = Style(color)
    inner = width - 4
    lines: list[str] = []
    for block in blocks or []:
        lines += block_lines(block, inner, style)
    if not blocks:
        lines = _wrap(mrkdwn(text, style), inner)
    out = ["┌" + "─" * (width - 2) + "┐"]
    for line in lines:
        out.append("│ " + line + " " * max(0, inner - cells(line)) + " │")
    out.append("└" + "─" * (width - 2) + "┘")
    return out


def one_line(blocks: list[JSONDict] | None, text: str, *, color: bool = False) -> str:
    """A progress edit in one line: the first section's text."""
    style = Style(color)
    for block in blocks or []:
        if block.get("type") == "section":
            return " ".join(_text(block.get("text"), style).split())
    return " ".join(mrkdwn(text, style).split())

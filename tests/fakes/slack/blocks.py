"""Block Kit checks the fake applies the way Slack does (server side, ``invalid_blocks``).

Only the limits a bot is likely to hit are checked; each failure is reported in Slack's style,
``"<problem> [json-pointer:/blocks/0/text/text]"``.
"""

from __future__ import annotations

from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100

_KNOWN_BLOCK_TYPES = {
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "video",
    "table",
}


def _too_long(limit: int) -> str:
    return f"must be less than {limit + 1} characters"


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, problem: str, pointer: str) -> None:
        self.errors.append(f"{problem} [json-pointer:{pointer}]")

    def text_object(self, obj: Any, pointer: str, *, limit: int, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.error("must be an object", pointer)
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.error(f"must be one of {list(allowed)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.error("must provide a string", f"{pointer}/text")
        elif len(text) == 0:
            self.error("must be more than 0 characters", f"{pointer}/text")
        elif len(text) > limit:
            self.error(_too_long(limit), f"{pointer}/text")

    def max_len(self, value: Any, limit: int, pointer: str) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.error("must provide a string", pointer)
        elif len(value) > limit:
            self.error(_too_long(limit), pointer)

    def element(self, el: Any, pointer: str) -> None:
        if not isinstance(el, dict) or not isinstance(el.get("type"), str):
            self.error("must provide an object with a type", pointer)
            return
        self.max_len(el.get("action_id"), 255, f"{pointer}/action_id")
        if el["type"] == "button":
            if "text" not in el:
                self.error("missing required field: text", pointer)
            else:
                self.text_object(el["text"], f"{pointer}/text", limit=75, plain_only=True)
            self.max_len(el.get("value"), 2000, f"{pointer}/value")
            self.max_len(el.get("url"), 3000, f"{pointer}/url")
            style = el.get("style")
            if style is not None and style not in ("primary", "danger"):
                self.error("must be one of [primary, danger]", f"{pointer}/style")
        elif el["type"] == "image":
            self.max_len(el.get("image_url"), 3000, f"{pointer}/image_url")
            if "alt_text" not in el:
                self.error("missing required field: alt_text", pointer)

    def block(self, block: Any, pointer: str, seen_ids: set[str]) -> None:
        if not isinstance(block, dict):
            self.error("must be an object", pointer)
            return
        kind = block.get("type")
        if not isinstance(kind, str) or kind not in _KNOWN_BLOCK_TYPES:
            self.error(f"unsupported type: {kind}", f"{pointer}/type")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.max_len(block_id, 255, f"{pointer}/block_id")
            if isinstance(block_id, str):
                if block_id in seen_ids:
                    self.error("block_id must be unique", f"{pointer}/block_id")
                seen_ids.add(block_id)
        getattr(self, f"_{kind}", self._other)(block, pointer)

    def _section(self, block: dict[str, Any], pointer: str) -> None:
        has_text = "text" in block
        fields = block.get("fields")
        if not has_text and not fields:
            self.error("must provide either text or fields", pointer)
        if has_text:
            self.text_object(block["text"], f"{pointer}/text", limit=3000)
        if fields is not None:
            if not isinstance(fields, list):
                self.error("must provide an array", f"{pointer}/fields")
            else:
                if len(fields) > 10:
                    self.error("no more than 10 items allowed", f"{pointer}/fields")
                for i, f in enumerate(fields):
                    self.text_object(f, f"{pointer}/fields/{i}", limit=2000)
        if "accessory" in block:
            self.element(block["accessory"], f"{pointer}/accessory")

    def _header(self, block: dict[str, Any], pointer: str) -> None:
        if "text" not in block:
            self.error("missing required field: text", pointer)
            return
        self.text_object(block["text"], f"{pointer}/text", limit=150, plain_only=True)

    def _context(self, block: dict[str, Any], pointer: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.error("must provide a non-empty array", f"{pointer}/elements")
            return
        if len(elements) > 10:
            self.error("no more than 10 items allowed", f"{pointer}/elements")
        for i, el in enumerate(elements):
            p = f"{pointer}/elements/{i}"
            if isinstance(el, dict) and el.get("type") == "image":
                self.element(el, p)
            else:
                self.text_object(el, p, limit=3000)

    def _actions(self, block: dict[str, Any], pointer: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.error("must provide a non-empty array", f"{pointer}/elements")
            return
        if len(elements) > 25:
            self.error("no more than 25 items allowed", f"{pointer}/elements")
        for i, el in enumerate(elements):
            self.element(el, f"{pointer}/elements/{i}")

    def _image(self, block: dict[str, Any], pointer: str) -> None:
        if "image_url" not in block and "slack_file" not in block:
            self.error("missing required field: image_url", pointer)
        self.max_len(block.get("image_url"), 3000, f"{pointer}/image_url")
        if "alt_text" not in block:
            self.error("missing required field: alt_text", pointer)
        else:
            self.max_len(block["alt_text"], 2000, f"{pointer}/alt_text")
        if "title" in block:
            self.text_object(block["title"], f"{pointer}/title", limit=2000, plain_only=True)

    def _markdown(self, block: dict[str, Any], pointer: str) -> None:
        text = block.get("text")
        if not isinstance(text, str) or not text:
            self.error("must provide a non-empty string", f"{pointer}/text")
        else:
            self.max_len(text, 12000, f"{pointer}/text")

    def _rich_text(self, block: dict[str, Any], pointer: str) -> None:
        if not isinstance(block.get("elements"), list):
            self.error("must provide an array", f"{pointer}/elements")

    def _divider(self, block: dict[str, Any], pointer: str) -> None:
        return None

    def _other(self, block: dict[str, Any], pointer: str) -> None:
        return None


def validate_blocks(blocks: list[Any], *, max_blocks: int = MESSAGE_MAX_BLOCKS) -> list[str]:
    """Return Slack-style error strings for ``blocks``; an empty list means Slack accepts them."""
    checker = _Checker()
    if len(blocks) > max_blocks:
        checker.error(f"no more than {max_blocks} items allowed", "/blocks")
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        checker.block(block, f"/blocks/{i}", seen)
    return checker.errors

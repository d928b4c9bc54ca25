"""The gist as Block Kit: header, topics, hashtags, thumbnail, context, Regenerate."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    ImageElement,
    MarkdownTextObject,
    PlainTextObject,
)

from bot.gist.models import GIST_TYPE_ORDER, Gist, GistType
from bot.slack.blocks._base import (
    ACTION_REGENERATE,
    BUTTON_VALUE_MAX,
    CONTEXT_TEXT_MAX,
    HEADER_MAX,
    NAME_MAX,
    SECTION_MAX,
    Message,
    _bounded_list,
    _clean,
    _clip,
    _duration,
    _fallback,
    _image_url,
    _link,
    _md,
    _mention,
    _plain,
    _section,
)


def result_message(
    gist: Gist,
    *,
    source_name: str,
    source_url: str | None,
    requester_id: str | None,
    elapsed_s: float | None,
    job_id: str,
    cached: bool = False,
    include_thumbnail: bool = True,
) -> Message:
    """The gist: a header (the title, or the source name), *Topics*, *Hashtags* (only the
    requested types), the thumbnail, a context line and a "Regenerate" button.

    Slack rejects a whole message (`invalid_blocks`) when it can't fetch an image URL; pass
    `include_thumbnail=False` to post again without it."""
    requested = [t for t in GIST_TYPE_ORDER if t in set(gist.types)]
    name_plain = _plain(source_name, HEADER_MAX) or "Video"
    title = _plain(gist.title, HEADER_MAX) if GistType.TITLE in requested and gist.title else ""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title or name_plain))]

    thumb = _image_url(gist.video.thumbnail_url) if include_thumbnail else None
    alt = _plain(f"Thumbnail of {name_plain}", 200)
    thumb_el = ImageElement(image_url=thumb, alt_text=alt) if thumb else None

    fallback = [f"Gist: {title or name_plain}"]
    sections = _sections(gist, requested, fallback)
    for i, text in enumerate(sections):
        blocks.append(_section(text, accessory=thumb_el if i == 0 else None))

    context: list[ImageElement | MarkdownTextObject] = []
    if thumb_el is not None and not sections:
        # No section to carry the thumbnail: show it small in the context line.
        context.append(ImageElement(image_url=thumb, alt_text=alt))
    line = _context_line(gist, source_name, source_url, requester_id, elapsed_s, cached)
    context.append(MarkdownTextObject(text=line))
    blocks.append(ContextBlock(elements=context))

    if job_id and len(job_id) <= BUTTON_VALUE_MAX:
        button = ButtonElement(
            text=PlainTextObject(text="Regenerate", emoji=True),
            action_id=ACTION_REGENERATE,
            value=job_id,
        )
        blocks.append(ActionsBlock(elements=[button]))
    return Message(text=_fallback(" — ".join(fallback)), blocks=blocks)


def _sections(gist: Gist, requested: list[GistType], fallback: list[str]) -> list[str]:
    """*Topics* and *Hashtags* as section texts (each requested one, found or not); what they
    hold is added to the notification's `fallback` too."""
    sections: list[str] = []
    if GistType.TOPIC in requested:
        topics = [t for t in (_clean(t) for t in gist.topics) if t]
        if topics:
            body = _bounded_list(
                topics, SECTION_MAX - 20, sep="\n", fmt="• {}", more="_…and {n} more_"
            )
            fallback.append("topics: " + ", ".join(_clip(t, 100) for t in topics[:20]))
        else:
            body = "_No topics found._"
        sections.append(f"*Topics*\n{body}")
    if GistType.HASHTAG in requested:
        tags = [t if t.startswith("#") else f"#{t}" for t in (_clean(h) for h in gist.hashtags)]
        tags = [t.replace(" ", "") for t in tags if t.strip("#")]
        if tags:
            body = _bounded_list(tags, SECTION_MAX - 20, sep=" ", more="_…and {n} more_")
            fallback.append(" ".join(_clip(t, 60) for t in tags[:20]))
        else:
            body = "_No hashtags found._"
        sections.append(f"*Hashtags*\n{body}")
    return sections


def _context_line(
    gist: Gist,
    source_name: str,
    source_url: str | None,
    requester_id: str | None,
    elapsed_s: float | None,
    cached: bool,
) -> str:
    """Source (linked), duration, model, time taken, requester, cache."""
    parts = [f":film_frames: {_link(source_url, _md(source_name, NAME_MAX) or 'video')}"]
    model = _md(gist.model, 60) if gist.model else ""
    took = _duration(elapsed_s)
    who = _mention(requester_id)
    parts += [p for p in (_duration(gist.video.duration_s), model) if p]
    if took:
        parts.append(f"took {took}")
    if who:
        parts.append(f"requested by {who}")
    if cached:
        parts.append("from cache")
    return _clip(" · ".join(parts), CONTEXT_TEXT_MAX)

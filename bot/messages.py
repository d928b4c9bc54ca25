"""Everything gistbot tells people when something goes wrong, in one place, keyed by a code.

Each entry says who reads it (`audience`), whether a Retry button can help, and whether the
admin is alerted. A `{field}` in a text is filled from the failure that raised it. The CLI
reads the same entries; `cli` replaces the Slack wording where that wording would be wrong for
a person at a terminal (there is no admin to tell, and no Retry button).

The codes are stable: logs, metrics and tests use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Audience(StrEnum):
    THREAD = "thread"  # shown in the video's thread, to everyone there
    REQUESTER = "requester"  # shown only to the person who asked (ephemeral / ack)
    NOBODY = "nobody"  # nobody can be told (the channel is gone): one log line


@dataclass(frozen=True)
class Text:
    headline: str
    detail: str
    retry_helps: bool
    audience: Audience = Audience.THREAD
    alert_admin: bool = False
    cli: str | None = None  # the CLI's detail, where the Slack one doesn't fit a terminal


_TRY_LATER = "Try again in a few minutes."

FAILURES: dict[str, Text] = {
    # -- TwelveLabs ---------------------------------------------------------------------
    "api_key": Text(
        "gistbot can't reach TwelveLabs right now",
        "Its API key was refused. An admin has been told; try again once it is fixed.",
        retry_helps=True,
        alert_admin=True,
        cli="TwelveLabs refused the API key. Check TWELVELABS_API_KEY.",
    ),
    "api_permission": Text(
        "TwelveLabs refused this request",
        "The account's plan or permissions don't allow it. An admin has been told.",
        retry_helps=True,
        alert_admin=True,
        cli="The account's plan or permissions don't allow it. Check the TwelveLabs plan.",
    ),
    "config_base_url": Text(
        "gistbot is misconfigured",
        "TwelveLabs doesn't know the API address it was given. An admin has been told.",
        retry_helps=False,
        alert_admin=True,
        cli="TWELVELABS_BASE_URL doesn't point at the API (it should end in /v1.3).",
    ),
    "rate_limited": Text(
        "TwelveLabs is busy",
        "It asked us to slow down and kept refusing. " + _TRY_LATER,
        retry_helps=True,
    ),
    "unavailable": Text(
        "TwelveLabs is having trouble",
        "Its service kept failing. " + _TRY_LATER,
        retry_helps=True,
    ),
    "video_unreadable": Text(
        "TwelveLabs couldn't read this video",
        "{reason} Check that the link or file is a playable video.",
        retry_helps=False,
    ),
    "video_duration": Text(
        "This video's length isn't supported",
        "{reason} Videos must be between 4 seconds and 2 hours.",
        retry_helps=False,
    ),
    "analysis_failed": Text("The analysis failed", "{reason}", retry_helps=True),
    "bad_output": Text(
        "The analysis didn't produce a usable answer",
        "TwelveLabs returned an incomplete or malformed result twice. Try again.",
        retry_helps=True,
    ),
    "timeout": Text(
        "This is taking too long",
        "TwelveLabs hasn't finished in time. Try again later.",
        retry_helps=True,
    ),
    "rejected": Text("TwelveLabs rejected this video", "{reason}", retry_helps=False),
    "not_found": Text(
        "TwelveLabs lost track of this video",
        "Try again; it will be uploaded anew.",
        retry_helps=True,
    ),
    # -- the job itself -----------------------------------------------------------------
    "deadline": Text(
        "This took too long",
        "No answer within {minutes} minutes. Try again; if it keeps happening, try a shorter "
        "video.",
        retry_helps=True,
    ),
    "internal": Text(
        "Something went wrong on our side",
        "The error was logged. Try again; if it keeps happening, tell your admin.",
        retry_helps=True,
    ),
    "channel_gone": Text(
        "gistbot can't post here",
        "The conversation is archived or gone, or gistbot was removed from it.",
        retry_helps=False,
        audience=Audience.NOBODY,
    ),
    # -- guardrails ---------------------------------------------------------------------
    "empty_file": Text("This file is empty", "There is no video in it.", retry_helps=False),
    "too_big": Text(
        "This video is too big",
        "It is {size}; this workspace's limit is {limit}. Trim or compress it and post it again.",
        retry_helps=False,
    ),
    "too_long": Text(
        "This video is too long",
        "It runs {duration}; the limit here is {limit}. Post a shorter cut.",
        retry_helps=False,
    ),
    "too_short": Text(
        "This video is too short",
        "It runs {duration}; TwelveLabs needs at least {limit} of video.",
        retry_helps=False,
    ),
    "quota_user": Text(
        "You've reached today's video limit",
        "You have used {used} of your {limit} minutes today (UTC). `/gist usage` shows the totals.",
        retry_helps=False,
    ),
    "quota_team": Text(
        "This workspace has reached today's video limit",
        "{used} of {limit} minutes are used today (UTC). Try again tomorrow or ask an admin to "
        "raise GIST_TEAM_DAILY_MINUTES.",
        retry_helps=False,
    ),
    # -- sources: Slack files and links -------------------------------------------------
    "file_gone": Text(
        "This file is no longer available",
        "It was deleted or has expired. Upload it again.",
        retry_helps=False,
    ),
    "file_hidden": Text(
        "This file is hidden by the workspace's plan limits",
        "Slack doesn't let apps read it. Upload it again or share a direct link.",
        retry_helps=False,
    ),
    "not_video": Text(
        "This file isn't a video",
        "gistbot works on video files (mp4, mov, webm …) and direct video links.",
        retry_helps=False,
    ),
    "not_video_link": Text(
        "That link isn't a video",
        "It points to {what}, not a video file. Share a direct link to the video (for example "
        "one ending in .mp4), or upload the file here.",
        retry_helps=False,
    ),
    "blocked_url": Text("I can't fetch that link", "{reason}", retry_helps=False),
    "dead_link": Text("That link doesn't work", "{reason}", retry_helps=False),
    "dead_link_unreachable": Text("That link doesn't work", "{reason}", retry_helps=True),
    "download_login_page": Text(
        "Slack sent a sign-in page instead of the file", "{reason}", retry_helps=False
    ),
    "download_too_large": Text("This video is too big", "{reason}", retry_helps=False),
    "download_empty": Text("This file is empty", "{reason}", retry_helps=False),
    "download_not_found": Text("This file is no longer available", "{reason}", retry_helps=False),
    "download_forbidden_host": Text(
        "This file isn't hosted where gistbot may fetch it", "{reason}", retry_helps=False
    ),
    "download_too_many_redirects": Text(
        "Slack kept redirecting the download", "{reason}", retry_helps=True
    ),
    "download_http_error": Text("Slack wouldn't hand over the file", "{reason}", retry_helps=True),
    "download_network": Text("The download from Slack failed", "{reason}", retry_helps=True),
    "download_size_mismatch": Text(
        "The download from Slack was incomplete", "{reason}", retry_helps=True
    ),
}

# Short answers to the person who asked (acks, ephemeral messages, notes in a thread).
NOTICES: dict[str, str] = {
    "channel_disabled": "gistbot isn't enabled in this channel.",
    "restarting": "gistbot is restarting. Try again in a minute.",
    "request_expired": "That request has expired. Post the video again.",
    "no_video_in_message": "I didn't find a video in that message.",
    "no_video_in_thread": "I didn't find a video in this message or at the top of its thread.",
    "already_on_it": "I'm already on it (or done): see the message's thread.",
    "mention_help": "Mention me in a message with a video link or upload, or in the thread of "
    "one. `/gist help` has the details.",
    "unreadable_command": "I couldn't read that.",
    "hosting_page": "{service} pages can't be analysed: TwelveLabs needs a direct link to the "
    "video file (for example one ending in .mp4). Download the video and upload it to Slack, "
    "then use the message shortcut “Gist this video”.",
    "not_a_member": "I'm not a member of this channel, so I can't reply in a thread here. The "
    "gist will be posted in this channel as a reply to your command when it's ready. Invite me "
    "(`/invite @gistbot`) to get progress in a thread next time.",
    "not_videos_skipped": "{names} {verb} not a video, so I skipped {pronoun}. I work on video "
    "files and direct video links.",
    "hosting_page_in_message": "{service} pages can't be analysed: TwelveLabs needs a direct "
    "link to the video file (for example one ending in .mp4). Download the video and upload it "
    "here instead.",
    "skipped_videos": "Skipped {count} more video{plural}: I gist at most {limit} per message.",
    # /gist text that can't be used
    "command_too_long": "That's too long for /gist ({length} characters). Send one link and, if "
    "you like, the kinds you want: {example}",
    "link_too_long": "That link is too long (over {limit} characters).",
    "not_a_link": "“{shown}” isn't a link I can use. Try: {example}",
    "invalid_link": "“{shown}” isn't a valid link. Try: {example}",
    "not_http": "Only http:// and https:// links work, not “{shown}”.",
    "no_host": "“{shown}” has no host name. Try: {example}",
    "mention_not_link": "“{shown}” is a mention, not a link. Try: {example}",
    "needs_full_link": "“{shown}” needs to be a full link starting with https://. Try: {example}",
    "unknown_word": "I don't know “{word}”. Ask for any of: {valid}.",
    "which_video": "Which video? Add a link to it: {example}",
    "one_video": "One video per /gist, please: send each link in its own command.",
    "unusable_link": "That link can't be used.",
    "admin_alert": ":rotating_light: gistbot needs an admin: *{headline}* ({code}). Check "
    "TWELVELABS_API_KEY, TWELVELABS_BASE_URL and the account's plan, then restart gistbot.",
    # /gist search and the App Home search (shown only to the person who searched)
    "search_usage": "Search the team's videos by what is shown or said in them: "
    "`/gist search <words>`, e.g. `/gist search new onboarding flow`. Add `in:#channel` to "
    "look in one conversation. You only ever see videos from conversations you're in.",
    "search_searching": "Searching the team's videos for “{query}”…",
    "search_disabled": "Search is off here: gistbot doesn't add videos to a TwelveLabs index "
    "(GIST_INDEX_ENABLED=false). Ask an admin to turn indexing on.",
    "search_no_index": "Nothing has been indexed yet: a video becomes searchable a few minutes "
    "after gistbot has gisted it.",
    "search_empty": "Nothing is searchable yet: a video becomes searchable a few minutes after "
    "gistbot has gisted it.",
    "search_pending": "{count} of your videos {verb} still being indexed: they'll show up in "
    "a few minutes.",
    "search_nothing": "Nothing found for “{query}”. Try other words for what is shown or said "
    "in the video, or fewer of them.",
    "search_nothing_in": "Nothing found for “{query}” in that conversation. Try other words, or "
    "search everywhere (without `in:`).",
    "search_busy": "TwelveLabs is busy. Try again in a minute.",
    "search_unavailable": "TwelveLabs isn't answering searches right now. Try again in a few "
    "minutes.",
    "search_too_long": "That search is too long: TwelveLabs takes up to {limit} tokens (a few "
    "hundred words). Shorten it.",
    "search_not_yours": "I can only search conversations you're in, and “{name}” isn't one of "
    "them. Use `in:#channel` with a conversation you're a member of.",
    "search_slack_unavailable": "Slack didn't tell me which conversations you're in, so I "
    "can't show results yet. Try again in a minute.",
    "search_no_more": "No more results for “{query}”.",
    "search_expired": "That search has expired. Run it again.",
    "search_shared": "Shared {count} result{plural} here.",
    "search_share_left_out": "{count} result{plural} from conversations not everyone here is "
    "in {verb} left out.",
    "search_share_none": "None of these results can be shared here: they come from "
    "conversations not everyone here is in.",
}


def failure_text(code: str) -> Text:
    """The entry for `code`; an unknown code reads as an internal error."""
    return FAILURES.get(code) or FAILURES["internal"]


def notice(key: str, **fields: object) -> str:
    return NOTICES[key].format(**fields)

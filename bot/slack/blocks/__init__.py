"""Pure Block Kit builders: a `Gist`, a progress state, an error or a notice → a `Message`
whose blocks stay within Slack's limits for any input, always with a fallback `text`."""

from __future__ import annotations

from bot.jobs.phases import Phase
from bot.slack.blocks._base import ACTION_REGENERATE, ACTION_RETRY, Message, escape_mrkdwn
from bot.slack.blocks.notices import error_message, help_message, notice_message, usage_message
from bot.slack.blocks.progress import progress_message
from bot.slack.blocks.result import result_message
from bot.slack.blocks.search import ShownHit, search_results_message

__all__ = [
    "ACTION_REGENERATE",
    "ACTION_RETRY",
    "Message",
    "Phase",
    "ShownHit",
    "error_message",
    "escape_mrkdwn",
    "help_message",
    "notice_message",
    "progress_message",
    "result_message",
    "search_results_message",
    "usage_message",
]

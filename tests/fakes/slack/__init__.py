"""Fake Slack (Web API, file hosting, response_url) on a real loopback HTTP server.

from tests.fakes.slack import FakeSlack
fake = FakeSlack(bot_token="xoxb-test-token", team_id="T0001", bot_user_id="UBOT")
fake.start()                     # "http://127.0.0.1:PORT/"
AsyncWebClient(token="xoxb-test-token", base_url=fake.api_url)
fake.chaos(p=0.15, seed=1)       # random faults on Web API calls, downloads, response_urls
fake.chaos_counts()              # {"429": 3, "after-drop": 1, ...}; fake.chaos(None) ends it
"""

from .blocks import validate_blocks
from .models import ApiCall, Download, Message, MessageVersion, ResponseUrl
from .server import FakeSlack

__all__ = [
    "ApiCall",
    "Download",
    "FakeSlack",
    "Message",
    "MessageVersion",
    "ResponseUrl",
    "validate_blocks",
]

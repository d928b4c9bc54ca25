"""Fake Slack (Web API, file hosting, response_url) on a real loopback HTTP server.

from tests.fakes.slack import FakeSlack
fake = FakeSlack(bot_token="xoxb-test-token", team_id="T0001", bot_user_id="UBOT")
fake.start()                     # "http://127.0.0.1:PORT/"
AsyncWebClient(token="xoxb-test-token", base_url=fake.api_url)
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

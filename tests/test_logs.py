import logging

import pytest

from bot.logs import RedactingFilter


def test_redacts_known_secrets_and_token_shapes(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("redaction-test")
    handler = logging.Handler()
    records: list[str] = []
    handler.emit = lambda r: records.append(r.getMessage())  # type: ignore[method-assign]
    handler.addFilter(RedactingFilter(["tlk_my_api_key_123"]))
    log.addHandler(handler)
    try:
        log.warning("key %s", "tlk_my_api_key_123")
        log.warning("slack xoxb-111-222-abc and xapp-1-A-b")
        log.warning("headers {'x-api-key': 'abc123', 'Authorization': 'Bearer xyz'}")
        try:
            raise RuntimeError("boom tlk_my_api_key_123")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = "\n".join(records)
    for secret in ("tlk_my_api_key_123", "xoxb-111", "xapp-1", "abc123", "xyz"):
        assert secret not in text
    assert text.count("[redacted]") >= 5

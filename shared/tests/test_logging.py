"""shared.logging: what the services log."""

from __future__ import annotations

import logging

from shared.logging import configure_logging


def test_calls_between_services_are_not_logged_at_info() -> None:
    """httpx logs an INFO line per request ("HTTP Request: GET …"): one per locate call and
    relayed event. At INFO they are off; failures still reach the log (shared.http's warnings),
    and DEBUG turns them back on."""
    try:
        configure_logging(service="test", level="INFO")
        for name in ("httpx", "httpcore"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO)
            assert logging.getLogger(name).isEnabledFor(logging.WARNING)
        assert logging.getLogger("shared.http").isEnabledFor(logging.INFO)
        configure_logging(service="test", level="DEBUG")
        assert logging.getLogger("httpx").isEnabledFor(logging.DEBUG)
    finally:
        configure_logging(service="test", level="INFO")

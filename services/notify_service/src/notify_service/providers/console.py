"""The console provider: logs the message (phone numbers masked) and calls it delivered.

The default of the embedded run (``make run``): nothing leaves the machine.
"""

from __future__ import annotations

import uuid

from notify_service.providers.base import (
    OutboundMessage,
    Outcome,
    SendResult,
    mask_openid,
    mask_phone,
)
from shared.logging import get_logger

log = get_logger(__name__)


class ConsoleProvider:
    name = "console"

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.keep = False

    async def send(self, message: OutboundMessage) -> SendResult:
        to = mask_phone(message.to) if message.channel == "sms" else mask_openid(message.to)
        log.info(
            "console_message",
            notification_id=message.notification_id,
            channel=message.channel,
            to=to,
            title=message.title,
            text=message.text,
        )
        if self.keep:
            self.sent.append(message)
        return SendResult(Outcome.delivered, provider_message_id=f"console-{uuid.uuid4().hex}")

    async def aclose(self) -> None:
        return None

"""Provider answers → error classes, and the console provider never logs a full number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from notify_service.delivery.policy import backoff, cap_until, quiet_until
from notify_service.providers import aliyun, tencent, wechat
from notify_service.providers.base import OutboundMessage, Outcome, mask_phone
from notify_service.providers.console import ConsoleProvider


@pytest.mark.parametrize(
    ("code", "message", "outcome"),
    [
        ("isp.SYSTEM_ERROR", "", Outcome.transient),
        ("isv.OUT_OF_SERVICE", "业务停机", Outcome.outage),
        ("isv.AMOUNT_NOT_ENOUGH", "", Outcome.outage),
        ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1", Outcome.rate_limited),
        ("isv.MOBILE_NUMBER_ILLEGAL", "", Outcome.permanent),
        ("isv.BLACK_KEY_CONTROL_LIMIT", "", Outcome.permanent),
        ("isv.SMS_TEMPLATE_ILLEGAL", "", Outcome.permanent),
    ],
)
def test_aliyun_codes(code: str, message: str, outcome: Outcome) -> None:
    assert aliyun.classify(code, message) is outcome


def test_aliyun_flow_control_windows() -> None:
    limit = "isv.BUSINESS_LIMIT_CONTROL"
    assert aliyun.rate_limit_delay(limit, "触发分钟级流控") == timedelta(minutes=1)
    assert aliyun.rate_limit_delay(limit, "触发小时级流控") == timedelta(hours=1)
    assert aliyun.rate_limit_delay(limit, "触发天级流控") == timedelta(days=1)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("InternalError.Timeout", Outcome.transient),
        ("InternalError.RequestTimeException", Outcome.transient),
        ("LimitExceeded.PhoneNumberThirtySecondLimit", Outcome.rate_limited),
        ("LimitExceeded.PhoneNumberDailyLimit", Outcome.rate_limited),
        ("InvalidParameterValue.IncorrectPhoneNumber", Outcome.permanent),
        ("FailedOperation.PhoneNumberInBlacklist", Outcome.permanent),
        ("FailedOperation.TemplateIncorrectOrUnapproved", Outcome.permanent),
        ("FailedOperation.InsufficientBalanceInSmsPackage", Outcome.outage),
        ("AuthFailure.SecretIdNotFound", Outcome.outage),
    ],
)
def test_tencent_codes(code: str, outcome: Outcome) -> None:
    assert tencent.classify(code) is outcome


@pytest.mark.parametrize(
    ("errcode", "outcome"),
    [
        (-1, Outcome.transient),
        (43101, Outcome.permanent),
        (43004, Outcome.permanent),
        (40003, Outcome.permanent),
        (45009, Outcome.rate_limited),
        (48001, Outcome.outage),
    ],
)
def test_wechat_codes(errcode: int, outcome: Outcome) -> None:
    assert wechat.classify(errcode) is outcome


async def test_console_provider_masks_numbers() -> None:
    with capture_logs() as logs:
        result = await ConsoleProvider().send(
            OutboundMessage(
                notification_id="n1",
                channel="sms",
                to="13812345678",
                params={},
                text="台风预警",
                title="紧急通知",
            )
        )
    assert result.outcome is Outcome.delivered
    assert logs[0]["to"] == "138****5678"
    assert "13812345678" not in repr(logs)
    assert mask_phone("+8613812345678") == "138****5678"


def test_policies() -> None:
    import random

    now = datetime(2026, 11, 23, 13, 59, tzinfo=UTC)  # 21:59 Shanghai
    assert quiet_until(now, "Asia/Shanghai", 22, 8) is None
    at_ten = now + timedelta(minutes=1)
    assert quiet_until(at_ten, "Asia/Shanghai", 22, 8) == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    sent = [now - timedelta(seconds=s) for s in (10, 700, 1400, 2100, 2800)]
    caps = [(timedelta(minutes=1), 1), (timedelta(hours=1), 5), (timedelta(days=1), 10)]
    # minute cap frees 50 s from now, hour cap when the oldest leaves the hour
    assert cap_until(sent, now, caps) == sent[-1] + timedelta(hours=1)
    assert cap_until([], now, caps) is None
    rng = random.Random(1)
    delays = [backoff(a, base=30, cap=600, rng=rng) for a in (1, 2, 3, 10)]
    assert timedelta(seconds=15) <= delays[0] <= timedelta(seconds=30)
    assert timedelta(seconds=30) <= delays[1] <= timedelta(seconds=60)
    assert timedelta(seconds=60) <= delays[2] <= timedelta(seconds=120)
    assert timedelta(seconds=300) <= delays[3] <= timedelta(seconds=600)

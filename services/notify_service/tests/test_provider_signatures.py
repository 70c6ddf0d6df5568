"""The adapters' signatures against the providers' own documented examples, and each
adapter's request as the fake provider checks it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from notifytest_fakes import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    MP_APP,
    MP_SECRET,
    OA_APP,
    OA_SECRET,
    TENCENT_APP,
    TENCENT_ID,
    TENCENT_KEY,
    Clock,
    Fakes,
    check_aliyun,
    check_tencent,
)

from notify_service.providers.aliyun import AliyunSmsProvider, rpc_signature
from notify_service.providers.base import OutboundMessage, Outcome
from notify_service.providers.tencent import TencentSmsProvider, tc3_authorization
from notify_service.providers.wechat import WechatProvider

CVM_BODY = (
    '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)


def test_tc3_reproduces_tencent_documented_example() -> None:
    """Tencent Cloud API 3.0 signature doc, CVM DescribeInstances example (timestamp
    1551113065). The current doc masks the key as ``Gu5t9xGARNpq86cd98joQYCN3*******`` and
    prints 2230eefd…; the earlier doc used ``…EXAMPLE`` and printed 72e494ea…."""
    common = {
        "service": "cvm",
        "host": "cvm.tencentcloudapi.com",
        "payload": CVM_BODY,
        "timestamp": 1551113065,
    }
    header, signature = tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3*******",
        **common,  # type: ignore[arg-type]
    )
    assert signature == "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )
    _, older = tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        **common,  # type: ignore[arg-type]
    )
    assert older == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_aliyun_rpc_signature_reproduces_documented_example() -> None:
    """Alibaba Cloud SMS signature doc: SendSms with AccessKeySecret ``testSecret``."""
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert rpc_signature("testSecret", "GET", params) == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def _message(channel: str, to: str, params: dict[str, object]) -> OutboundMessage:
    return OutboundMessage(
        notification_id="0b7f3c1e-5b8e-4f3a-9b1a-1c2d3e4f5a6b",
        channel=channel,
        to=to,
        params=params,
        text="您反映的问题已受理",
        title="案件已受理",
    )


async def test_aliyun_request_is_what_the_provider_accepts() -> None:
    clock = Clock(datetime(2026, 11, 23, 2, 0, 5, tzinfo=UTC))
    fakes = Fakes(clock=clock)
    provider = AliyunSmsProvider(
        endpoint="https://dysmsapi.aliyun.test",
        access_key_id=ALIYUN_KEY_ID,
        access_key_secret=ALIYUN_SECRET,
        transport=fakes.transport,
        clock=clock,
    )
    result = await provider.send(
        _message(
            "sms",
            "+8613812345678",
            {"template_code": "SMS_1", "sign_name": "网格通", "params": {"code": "A-1"}},
        )
    )
    assert result.outcome is Outcome.accepted
    assert result.provider_message_id
    (sent,) = fakes.sent
    assert sent.request.method == "POST"
    params = check_aliyun(sent.request)  # signature recomputed by the fake
    assert params["PhoneNumbers"] == "13812345678"
    assert params["OutId"] == "0b7f3c1e-5b8e-4f3a-9b1a-1c2d3e4f5a6b"
    assert json.loads(params["TemplateParam"]) == {"code": "A-1"}
    assert params["Timestamp"] == "2026-11-23T02:00:05Z"

    # a wrong secret is refused by the fake, as by Alibaba
    bad = AliyunSmsProvider(
        endpoint="https://dysmsapi.aliyun.test",
        access_key_id=ALIYUN_KEY_ID,
        access_key_secret="wrong",
        transport=fakes.transport,
        clock=clock,
    )
    refused = await bad.send(
        _message("sms", "13812345678", {"template_code": "SMS_1", "sign_name": "网格通"})
    )
    assert refused.outcome is Outcome.outage
    assert refused.code == "SignatureDoesNotMatch"


async def test_tencent_request_is_what_the_provider_accepts() -> None:
    clock = Clock(datetime(2026, 11, 23, 2, 0, 5, tzinfo=UTC))
    fakes = Fakes(clock=clock)
    provider = TencentSmsProvider(
        endpoint="https://sms.tencentcloudapi.test",
        secret_id=TENCENT_ID,
        secret_key=TENCENT_KEY,
        sms_sdk_app_id=TENCENT_APP,
        transport=fakes.transport,
        clock=clock,
    )
    result = await provider.send(
        _message(
            "sms",
            "13812345678",
            {"template_id": "1865432", "sign_name": "网格通", "params": ["A-1", "路灯"]},
        )
    )
    assert result.outcome is Outcome.accepted
    assert result.provider_message_id
    (sent,) = fakes.sent
    body = check_tencent(sent.request)
    assert body["PhoneNumberSet"] == ["+8613812345678"]
    assert body["TemplateParamSet"] == ["A-1", "路灯"]
    assert body["SessionContext"] == "0b7f3c1e-5b8e-4f3a-9b1a-1c2d3e4f5a6b"
    assert sent.request.headers["X-TC-Timestamp"] == str(int(clock().timestamp()))
    assert sent.request.headers["X-TC-Region"] == "ap-guangzhou"


async def test_wechat_request_and_token_cache_per_app() -> None:
    clock = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    fakes = Fakes(clock=clock)
    provider = WechatProvider(
        api_base="https://api.weixin.test",
        oa_app_id=OA_APP,
        oa_app_secret=OA_SECRET,
        mp_app_id=MP_APP,
        mp_app_secret=MP_SECRET,
        transport=fakes.transport,
        clock=clock,
    )
    params = {"template_id": "tpl-1", "data": {"thing1": "路灯不亮"}, "page": "pages/x"}
    for _ in range(3):
        result = await provider.send(_message("wechat_mp", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", params))
        assert result.outcome is Outcome.accepted
    oa = await provider.send(_message("wechat_oa", "oOA_bmjrPTlm6_2sgVt7hMZOPfL2", params))
    assert oa.outcome is Outcome.accepted
    # one stable-token call per app, not per message
    assert [c["appid"] for c in fakes.wechat_token_calls] == [MP_APP, OA_APP]
    assert all(c["force_refresh"] is False for c in fakes.wechat_token_calls)
    mp_body = fakes.sent_by("wechat_mp")[0].body
    assert mp_body["data"] == {"thing1": {"value": "路灯不亮"}}
    assert mp_body["page"] == "pages/x"
    oa_body = fakes.sent_by("wechat_oa")[0].body
    assert oa_body["client_msg_id"] == "0b7f3c1e-5b8e-4f3a-9b1a-1c2d3e4f5a6b"

    # near expiry (inside the refresh margin) the token is fetched again before use
    clock.advance(seconds=7200 - 200)
    await provider.send(_message("wechat_mp", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", params))
    assert len(fakes.wechat_token_calls) == 3


async def test_network_errors_are_classified() -> None:
    clock = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))

    def raiser(exc: Exception) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            raise exc

        return httpx.MockTransport(handler)

    cases = [
        (httpx.ConnectError("refused"), Outcome.outage),
        (httpx.ReadTimeout("slow"), Outcome.ambiguous),
        (httpx.RemoteProtocolError("cut"), Outcome.ambiguous),
        (httpx.PoolTimeout("pool"), Outcome.transient),
    ]
    for exc, outcome in cases:
        provider = AliyunSmsProvider(
            endpoint="https://dysmsapi.aliyun.test",
            access_key_id=ALIYUN_KEY_ID,
            access_key_secret=ALIYUN_SECRET,
            transport=raiser(exc),
            clock=clock,
        )
        result = await provider.send(_message("sms", "13812345678", {}))
        assert result.outcome is outcome, exc

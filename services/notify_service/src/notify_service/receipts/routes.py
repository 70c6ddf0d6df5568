"""Delivery receipt endpoints: Alibaba SmsReport push, Tencent status callback, WeChat
send-result events. Each authenticates its caller; receipts may come in batches, out of
order, more than once, and before our own send result (they wait for it)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from defusedxml import ElementTree
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import SecretStr

from notify_service.clock import Now
from notify_service.config import Settings
from notify_service.notifications import service as notifications
from notify_service.providers.aliyun import receipt_reference
from notify_service.receipts.schemas import (
    AliyunAnswer,
    AliyunSmsReport,
    TencentAnswer,
    TencentSmsStatus,
)
from shared.db import SessionDep
from shared.i18n import Text
from shared.problem import BadRequest, FieldProblem, Unauthorized, problem_responses

router = APIRouter(prefix="/api/v1/receipts", tags=["receipts"])
CHINA = ZoneInfo("Asia/Shanghai")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _check_token(expected: SecretStr, given: str | None) -> None:
    secret = expected.get_secret_value()
    if not secret or not given or not hmac.compare_digest(secret.encode(), given.encode()):
        raise Unauthorized(
            Text("回执令牌缺失或错误", "The receipt token is missing or wrong"),
            code="invalid_receipt_token",
        )


def _china_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
    except ValueError:
        return None


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


Token = Annotated[str | None, Query(description="the shared secret configured for this push")]


@router.post(
    "/aliyun",
    response_model=AliyunAnswer,
    summary="Alibaba Cloud SmsReport push",
    description="Body: the JSON array Alibaba pushes. `out_id` is our notification id (or, for "
    "a batch send, the call's `batch-…` id, matched with `phone_number`), `biz_id` "
    "the provider's. Authenticated by the `token` query parameter (NOTIFY_ALIYUN_RECEIPT_TOKEN).",
    responses=problem_responses(401, 422),
)
async def aliyun_report(
    reports: list[AliyunSmsReport],
    request: Request,
    session: SessionDep,
    now: Now,
    token: Token = None,
) -> AliyunAnswer:
    _check_token(_settings(request).aliyun_receipt_token, token)
    stored = 0
    for report in reports:
        stored += await notifications.record_receipt(
            session,
            provider="aliyun",
            provider_message_id=receipt_reference(
                biz_id=report.biz_id, phone_number=report.phone_number, out_id=report.out_id
            ),
            notification_id=_uuid(report.out_id),
            outcome="delivered" if report.success else "failed",
            code=report.err_code,
            detail=report.err_msg,
            reported_at=_china_time(report.report_time),
            now=now,
        )
    return AliyunAnswer(accepted=stored, duplicates=len(reports) - stored)


@router.post(
    "/tencent",
    response_model=TencentAnswer,
    summary="Tencent Cloud SMS status callback",
    description="Body: the JSON array Tencent posts; `sid` is the `SerialNo` of the send. "
    "Authenticated by the `token` query parameter (NOTIFY_TENCENT_RECEIPT_TOKEN).",
    responses=problem_responses(401, 422),
)
async def tencent_status(
    statuses: list[TencentSmsStatus],
    request: Request,
    session: SessionDep,
    now: Now,
    token: Token = None,
) -> TencentAnswer:
    _check_token(_settings(request).tencent_receipt_token, token)
    stored = 0
    for status in statuses:
        stored += await notifications.record_receipt(
            session,
            provider="tencent",
            provider_message_id=status.sid,
            outcome="delivered" if status.report_status.upper() == "SUCCESS" else "failed",
            code=status.errmsg,
            detail=status.description,
            reported_at=_china_time(status.user_receive_time),
            now=now,
        )
    return TencentAnswer(accepted=stored, duplicates=len(statuses) - stored)


def _check_wechat_signature(settings: Settings, signature: str, timestamp: str, nonce: str) -> None:
    token = settings.wechat_event_token.get_secret_value()
    expected = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324 - WeChat's scheme
    if not token or not hmac.compare_digest(expected, signature):
        raise Unauthorized(
            Text("微信签名错误", "The WeChat signature is wrong"), code="invalid_wechat_signature"
        )


Sig = Annotated[str, Query(description="sha1 of the sorted token, timestamp and nonce")]


@router.get(
    "/wechat",
    response_class=PlainTextResponse,
    summary="WeChat server URL verification",
    description="WeChat checks the push URL by sending `echostr`; it is echoed when the "
    "signature matches NOTIFY_WECHAT_EVENT_TOKEN.",
    responses=problem_responses(401),
)
async def wechat_verify(
    request: Request, signature: Sig, timestamp: str, nonce: str, echostr: str
) -> PlainTextResponse:
    _check_wechat_signature(_settings(request), signature, timestamp, nonce)
    return PlainTextResponse(echostr)


def _wechat_results(root: Any) -> list[tuple[str, str, str]]:
    """(msgid, outcome, code) from a template-send or subscribe-send event."""
    event = (root.findtext("Event") or "").strip()
    if event == "TEMPLATESENDJOBFINISH":
        status = (root.findtext("Status") or "").strip()
        msgid = (root.findtext("MsgID") or "").strip()
        return [(msgid, "delivered" if status == "success" else "failed", status)]
    if event == "subscribe_msg_sent_event":
        out = []
        for item in root.iter("List"):
            code = (item.findtext("ErrorCode") or "").strip()
            msgid = (item.findtext("MsgID") or "").strip()
            out.append((msgid, "delivered" if code == "0" else "failed", code))
        return out
    return []


@router.post(
    "/wechat",
    response_class=PlainTextResponse,
    summary="WeChat send-result events",
    description="Plain-text-mode XML pushes: `TEMPLATESENDJOBFINISH` (official account) and "
    "`subscribe_msg_sent_event` (mini-program). Signed with NOTIFY_WECHAT_EVENT_TOKEN; other "
    "events are acknowledged and ignored. Answers `success` as WeChat expects. Example body: "
    "`<xml><ToUserName>gh_7f083739789a</ToUserName><FromUserName>oOA_x</FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType>event</MsgType>"
    "<Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status>success</Status></xml>`",
    responses=problem_responses(400, 401),
)
async def wechat_event(
    request: Request, session: SessionDep, signature: Sig, timestamp: str, nonce: str, now: Now
) -> PlainTextResponse:
    _check_wechat_signature(_settings(request), signature, timestamp, nonce)
    raw = await request.body()
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise BadRequest(
            Text("请求体不是格式正确的 XML", "The body is not well-formed XML"),
            code="malformed_xml",
            errors=[FieldProblem(field="body", reason=Text("不是 XML", "not XML"))],
        ) from exc
    for msgid, outcome, code in _wechat_results(root):
        if msgid:
            await notifications.record_receipt(
                session,
                provider="wechat",
                provider_message_id=msgid,
                outcome=outcome,
                code=code,
                now=now,
            )
    return PlainTextResponse("success")

"""Wire schemas of dispute mediation."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PHONE_PATTERN = r"^(\+[1-9]\d{6,14}|1[3-9]\d{9})$"
ID_NUMBER_PATTERN = r"^(\d{17}[\dXx]|[0-9A-HJ-NPQRTUWXY]{18})$"  # 身份证 / 统一社会信用代码


class Side(StrEnum):
    applicant = "applicant"  # 申请人
    respondent = "respondent"  # 被申请人


class PartyKind(StrEnum):
    person = "person"  # 自然人
    organisation = "organisation"  # 法人或其他组织


class Risk(StrEnum):
    general = "general"  # 一般
    serious = "serious"  # 较大
    major = "major"  # 重大


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    side: Side
    kind: PartyKind = PartyKind.person
    name: str = Field(min_length=1, max_length=100, description="姓名或单位名称")
    phone: str | None = Field(None, pattern=PHONE_PATTERN, description="to tell them of sessions")
    id_number: str | None = Field(
        None, pattern=ID_NUMBER_PATTERN, description="身份证号 or 统一社会信用代码"
    )
    address: str | None = Field(None, max_length=200)


DISPUTE_EXAMPLE: dict[str, Any] = {
    "dispute_type": "邻里纠纷",
    "facts": "楼上住户装修漏水，致楼下天花板受损，双方就赔偿发生争执。",
    "people_involved": 2,
    "amount_yuan": "3000.00",
    "risk_level": "general",
    "escalating": False,
    "parties": [
        {
            "side": "applicant",
            "kind": "person",
            "name": "张三",
            "phone": "13800000001",
            "id_number": "330106198001011234",
        },
        {"side": "respondent", "kind": "person", "name": "李四", "phone": "13800000002"},
    ],
}


class DisputeCreate(BaseModel):
    """Open the mediation file of a case (a 矛盾纠纷 case, or one a dispatcher turns into one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": DISPUTE_EXAMPLE})

    dispute_type: str = Field(min_length=1, max_length=64, description="纠纷类型, e.g. 邻里纠纷")
    facts: str | None = Field(None, max_length=5000, description="纠纷事实")
    people_involved: int = Field(ge=1, le=100000, description="涉及人数")
    amount_yuan: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    risk_level: Risk = Field(
        Risk.general, description="一般/较大; 重大 is set when many are involved or 激化"
    )
    escalating: bool = Field(False, description="likely to turn violent (激化): reported at once")
    parties: list[PartyIn] = Field(min_length=2, max_length=50)


class DisputeUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"people_involved": 8, "escalating": True}}
    )

    dispute_type: str | None = Field(None, min_length=1, max_length=64)
    facts: str | None = Field(None, max_length=5000)
    people_involved: int | None = Field(None, ge=1, le=100000)
    amount_yuan: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    risk_level: Risk | None = None
    escalating: bool | None = None


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: datetime
    place: str = Field(min_length=1, max_length=200)
    attendees: list[str] = Field(default_factory=list, max_length=50)


class TermIn(BaseModel):
    """A term of the agreement: each says how, where and by when it is performed."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=1000, description="协议内容")
    manner: str = Field(min_length=1, max_length=200, description="履行方式")
    place: str = Field(min_length=1, max_length=200, description="履行地点")
    deadline_on: date = Field(description="履行期限")


class Consents(BaseModel):
    model_config = ConfigDict(extra="forbid")

    applicant: bool = Field(description="the applicants agree to the extension")
    respondent: bool = Field(description="the respondents agree to the extension")


class MediationActionRequest(BaseModel):
    """The body of a procedure step; which fields an action needs is in its description."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, min_length=1, max_length=500)
    member_ids: list[uuid.UUID] | None = Field(None, min_length=1, max_length=10)
    session: SessionIn | None = None
    session_number: int | None = Field(None, ge=1)
    record: str | None = Field(None, min_length=1, max_length=20000, description="调解笔录")
    responsibility: str | None = Field(
        None, min_length=1, max_length=5000, description="事实与责任 as agreed"
    )
    terms: list[TermIn] | None = Field(None, min_length=1, max_length=50)
    days: int | None = Field(None, ge=1, le=366, description="calendar days added")
    consents: Consents | None = None
    department_id: str | None = Field(None, min_length=1, max_length=64)
    court: str | None = Field(None, min_length=1, max_length=100)
    term_id: uuid.UUID | None = None
    note: str | None = Field(None, min_length=1, max_length=500)


class PartyRead(BaseModel):
    id: uuid.UUID
    side: Side
    kind: PartyKind
    name: str | None
    phone: str | None
    id_number: str | None
    address: str | None
    masked: bool


class MediatorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    member_id: uuid.UUID
    account_id: str | None
    name: str
    post: str
    level: str
    backup_for_member_id: uuid.UUID | None = Field(
        description="answering for this away primary (AB岗)"
    )
    active: bool
    assigned_at: datetime


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    level: str
    starts_at: datetime
    place: str
    attendees: list[str]
    notified: int = Field(description="parties told the time and place (SMS/WeChat)")
    record: str | None
    recorded_at: datetime | None


class TermRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ord: int
    content: str
    manner: str
    place: str
    deadline_on: date
    visit_due_at: datetime
    performance: str
    visited_at: datetime | None
    visit_note: str | None
    urged_at: datetime | None


class DisputeRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "0d3c1c7e-58a2-4a0e-9a3e-6f1d2b7c9e10",
                "case_id": "5b7b4a1e-2f0c-4d8e-9c1a-3e2f1d0c9b8a",
                "case_number": "XH20261207-0001",
                "status": "mediating",
                "status_title": "调解中",
                "level": "community",
                "level_area_path": "330100.330106.330106001.330106001001",
                "dispute_type": "邻里纠纷",
                "people_involved": 2,
                "risk_level": "general",
                "risk_title": "一般",
                "escalating": False,
                "judicial_status": "none",
                "allowed_actions": ["assign", "schedule_session", "record_session"],
                "parties": [
                    {
                        "id": "9f0e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f",
                        "side": "applicant",
                        "kind": "person",
                        "name": "张*",
                        "phone": "138****0001",
                        "id_number": "330106********1234",
                        "address": None,
                        "masked": True,
                    }
                ],
            }
        }
    )

    id: uuid.UUID
    case_id: uuid.UUID
    case_number: str
    status: str
    status_title: str
    level: str
    level_area_path: str
    dispute_type: str
    facts: str | None
    people_involved: int
    amount_yuan: Decimal | None
    risk_level: str
    risk_title: str
    escalating: bool
    converted: bool
    refused_reason: str | None
    accepted_at: datetime | None
    due_at: datetime | None = Field(description="the time limit (one month, working calendar)")
    extensions: list[dict[str, object]]
    responsibility: str | None
    outcome_reason: str | None
    agreed_at: datetime | None
    judicial_status: str
    judicial_court: str | None
    confirmation_due_on: date | None = Field(description="30 days after the agreement")
    referred_department_id: str | None
    version: int
    allowed_actions: list[str]
    parties: list[PartyRead]
    mediators: list[MediatorRead]
    sessions: list[SessionRead]
    terms: list[TermRead]
    created_at: datetime
    updated_at: datetime


class TemplateBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern="^(heading|paragraph)$")
    text: str = Field(min_length=1, max_length=5000)


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "title": "人民调解协议书",
                "blocks": [
                    {"kind": "paragraph", "text": "编号：{case_number}"},
                    {"kind": "heading", "text": "当事人"},
                    {"kind": "paragraph", "text": "{parties}"},
                ],
            }
        },
    )

    title: str = Field(min_length=1, max_length=100)
    blocks: list[TemplateBlock] = Field(min_length=1, max_length=100)


class TemplateRead(BaseModel):
    kind: str
    title: str
    blocks: list[TemplateBlock]
    required_placeholders: list[str]
    version: int
    customised: bool
    updated_at: datetime | None

"""HTTP of dispute mediation: the file, its procedure steps, the reveal audit."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.attachments.models import Attachment
from case_service.cases import access
from case_service.cases import repository as cases
from case_service.cases import service as case_service
from case_service.cases.schemas import TimelineRead
from case_service.mediation import documents, flows, reports, service
from case_service.mediation.lifecycle import STEPS, MediationAction
from case_service.mediation.models import DisputePartyReveal
from case_service.mediation.schemas import (
    DISPUTE_EXAMPLE,
    DisputeCreate,
    DisputeRead,
    DisputeUpdate,
    MediationActionRequest,
    TemplateRead,
    TemplateUpdate,
)
from case_service.stats.exports import XLSX as reports_xlsx
from case_service.stats.exports import table_response
from case_service.stats.schemas import Format
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ValidationFailed,
    problem_responses,
)

router = APIRouter(prefix="/api/v1/cases", tags=["mediation"])

CaseId = Annotated[uuid.UUID, Path(description="case id")]
AuditorDep = Annotated[Principal, require_roles(Role.admin, Role.supervisor)]


def _no_file() -> NotFound:
    return NotFound(
        Text("此案件没有调解档案", "This case has no mediation file"), code="dispute_not_found"
    )


async def visible(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Any:
    """The case and its file, for whoever may see the case or mediates the dispute."""
    case = await cases.get(session, case_id)
    if case is None:
        raise case_service._not_found()
    dispute = await service.get_for(session, case.id)
    rows = await service.mediators(session, dispute.id) if dispute else []
    if not service.can_see(principal, case, rows):
        raise case_service._not_found()
    return case, dispute, rows


@router.post(
    "/{case_id}/mediation",
    status_code=201,
    response_model=DisputeRead,
    summary="Open a dispute's mediation file (矛盾纠纷调解档案)",
    description="For cases of the 矛盾纠纷 categories (codes `01xx`), by the dispatchers and grid "
    "leaders over the case (admins anywhere); a case of another category is turned into a "
    "dispute by a dispatcher only (`converted: true`). Parties (an applicant and a respondent "
    "at least; a person or an organisation) have their name, phone and ID number stored "
    "encrypted and are shown masked. The file starts `registered` at the community level of "
    "the case's area. **重大**: with `people_involved` at or above `CASE_MEDIATION_MAJOR_PEOPLE` "
    "(default 5) or `escalating` (激化) the risk is 重大 whatever was asked, the case becomes a "
    "major incident and the major-incident event goes upward at once (every level above "
    "hears). 403 `mediation_not_permitted`, 409 `dispute_exists`, 422 naming the field (a "
    "party without a `name`: `parties.0.name`).",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "examples": {
                        "neighbours": {"summary": "邻里纠纷", "value": DISPUTE_EXAMPLE},
                        "group": {
                            "summary": "6 people involved: 重大, reported upward at once",
                            "value": {
                                "dispute_type": "劳动纠纷",
                                "people_involved": 6,
                                "amount_yuan": "48000",
                                "parties": [
                                    {"side": "applicant", "name": "王五", "phone": "13800000003"},
                                    {
                                        "side": "respondent",
                                        "kind": "organisation",
                                        "name": "某建筑劳务有限公司",
                                    },
                                ],
                            },
                        },
                    }
                }
            }
        }
    },
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def open_file(
    case_id: CaseId, body: DisputeCreate, session: SessionDep, principal: CurrentPrincipal
) -> DisputeRead:
    case = await cases.get(session, case_id, lock=True)
    if case is None or not access.can_see(principal, case):
        raise case_service._not_found()
    dispute = await service.create(session, principal=principal, case=case, data=body)
    return await service.to_read(session, case, dispute, clear=False)


@router.get(
    "/{case_id}/mediation",
    response_model=DisputeRead,
    summary="Read a dispute's mediation file",
    description="Parties masked (`张*`, `138****0001`, `330106********1234`); with "
    "`reveal=true&reason=…` the mediators and the level's dispatchers and grid leaders see "
    "them in full, and each reveal is a row of the append-only audit "
    "(`GET …/mediation/reveals`). Others 403 `reveal_not_allowed`. `allowed_actions` lists "
    "the steps the transition table allows now.",
    responses=problem_responses(401, 403, 404, 422),
)
async def read_file(
    case_id: CaseId,
    session: SessionDep,
    principal: CurrentPrincipal,
    reveal: Annotated[bool, Query(description="show the parties in full (audited)")] = False,
    reason: Annotated[
        str | None,
        Query(
            max_length=500, description="why (required with reveal)", examples=["电话通知调解时间"]
        ),
    ] = None,
) -> DisputeRead:
    case, dispute, rows = await visible(session, principal, case_id)
    if dispute is None:
        raise _no_file()
    if reveal:
        why = service.check_reveal(principal, case, dispute, rows, reason)
        await service.record_reveal(session, principal, dispute, reason=why, purpose="read")
    return await service.to_read(session, case, dispute, clear=reveal)


@router.patch(
    "/{case_id}/mediation",
    response_model=DisputeRead,
    summary="Change a dispute's facts, people involved, amount or risk",
    description="By the level's coordinators or the mediators, while the file is open. "
    "Raising `people_involved` to the threshold or marking `escalating` makes it 重大 and "
    "fires the major-incident path at once (once per case).",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_file(
    case_id: CaseId, body: DisputeUpdate, session: SessionDep, principal: CurrentPrincipal
) -> DisputeRead:
    case, dispute, _ = await visible(session, principal, case_id)
    if dispute is None:
        raise _no_file()
    case = await cases.get(session, case_id, lock=True)
    dispute = await service.get_for(session, case_id, lock=True)
    assert case is not None
    assert dispute is not None
    dispute = await service.update(
        session, principal=principal, case=case, dispute=dispute, data=body
    )
    return await service.to_read(session, case, dispute, clear=False)


def _steps_table() -> str:
    lines = ["| action | moves | needs | by |", "|---|---|---|---|"]
    for action, step in STEPS.items():
        moves = ", ".join(f"{a} → {b}" for a, b in step.moves.items())
        lines.append(
            f"| `{action.value}` {step.title[0]} | {step.track.value}: {moves} | "
            f"{', '.join(f'`{n}`' for n in step.needs) or '—'} | {step.by} |"
        )
    return "\n".join(lines)


_ACTION_EXAMPLES = {
    "accept": {"summary": "受理", "value": {}},
    "refuse": {"summary": "不予受理", "value": {"reason": "当事人已向人民法院起诉"}},
    "assign": {
        "summary": "指派调解员",
        "value": {"member_ids": ["0b6f1b8e-3f1c-4d8a-9d55-0d3c3c1f6a01"]},
    },
    "schedule_session": {
        "summary": "安排调解（通知各方当事人）",
        "value": {
            "session": {
                "starts_at": "2026-12-09T09:30:00+08:00",
                "place": "社区调解室",
                "attendees": ["张三", "李四", "调解员王芳"],
            }
        },
    },
    "record_session": {
        "summary": "调解笔录",
        "value": {"session_number": 1, "record": "调解员告知双方权利义务。申请人称……被申请人称……"},
    },
    "extend": {
        "summary": "经双方同意延期",
        "value": {
            "days": 15,
            "reason": "需等待损失鉴定",
            "consents": {"applicant": True, "respondent": True},
        },
    },
    "agree": {
        "summary": "达成协议",
        "value": {
            "responsibility": "被申请人装修不当致漏水，应承担赔偿责任。",
            "terms": [
                {
                    "content": "李四赔偿张三维修费3000元",
                    "manner": "银行转账",
                    "place": "社区调解室",
                    "deadline_on": "2026-12-31",
                }
            ],
        },
    },
    "fail": {"summary": "调解不成", "value": {"reason": "双方对赔偿数额分歧较大"}},
    "refer_up": {"summary": "移交街道调处中心", "value": {"reason": "社区调解不成"}},
    "refer_department": {
        "summary": "转行政调解",
        "value": {"department_id": "dept-hrss", "reason": "劳动争议"},
    },
    "advise_court": {
        "summary": "告知诉讼",
        "value": {"reason": "调解不成，告知当事人可向人民法院起诉"},
    },
    "apply_confirmation": {"summary": "申请司法确认", "value": {"court": "西湖区人民法院"}},
    "confirm": {"summary": "司法确认", "value": {}},
    "visit_performed": {
        "summary": "回访：已履行",
        "value": {"term_id": "9f0e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f", "note": "已转账"},
    },
    "visit_not_performed": {
        "summary": "回访：未履行",
        "value": {"term_id": "9f0e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f", "note": "尚未付款"},
    },
    "urge": {
        "summary": "督促履行",
        "value": {"term_id": "9f0e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f", "note": "电话督促"},
    },
}


@router.post(
    "/{case_id}/mediation/actions/{action}",
    response_model=DisputeRead,
    summary="Take a step of the mediation procedure",
    description="One step of the transition table (the state in the wrong place: 409 "
    "`illegal_mediation_transition` with `allowed_actions`; a role that may not take it: 403 "
    "`mediation_not_permitted`; a field it needs missing: 422 naming it). *coordinator*: the "
    "dispatchers, grid leaders and admins over the level handling the dispute; *mediator*: "
    "also the mediators assigned. Every step is a case timeline entry and a `mediation.<action>` "
    "event (outbox and webhooks), written with it or not at all.\n\n"
    "`assign` names grid_service members holding the mediator, lawyer, notary or informant "
    "(楼栋长/通讯员) posts in the level's area; an away member is replaced by the backup "
    "answering for them (AB岗). `schedule_session` tells every party with a phone the time and "
    "place by SMS (template `mediation_session`). `accept` and `refer_up` set the one-month time "
    "limit on the working calendar; `extend` only with both parties' consent "
    "(`consents.applicant`, `consents.respondent`). `agree` needs each term's `manner`, `place` "
    "and `deadline_on`; the return visit falls due at each deadline (timer, event "
    "`mediation.visit_due` to the mediators). `apply_confirmation` within 30 days of the "
    "agreement (409 `confirmation_window_passed`). `refer_up`: community → street mediation "
    "centre → city (409 `no_level_above` at the top).\n\n" + _steps_table(),
    openapi_extra={
        "requestBody": {"content": {"application/json": {"examples": _ACTION_EXAMPLES}}}
    },
    responses=problem_responses(401, 403, 404, 409, 422, 502, 503, 504),
)
async def take_step(
    request: Request,
    case_id: CaseId,
    action: Annotated[MediationAction, Path(description="the step")],
    body: MediationActionRequest,
    principal: CurrentPrincipal,
) -> DisputeRead:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    picks = None
    if action is MediationAction.assign and body.member_ids:
        # check the caller may see the file before asking grid_service anything
        async with maker() as session, session.begin():
            _, dispute, _ = await visible(session, principal, case_id)
            if dispute is None:
                raise _no_file()
        picks = await flows.resolve_members(
            request.app.state.member_directory, body.member_ids, utcnow()
        )
    async with maker() as session, session.begin():
        case, dispute, _ = await visible(session, principal, case_id)
        if dispute is None:
            raise _no_file()
        case = await cases.get(session, case_id, lock=True)
        assert case is not None
        dispute = await service.act(
            session, principal=principal, case=case, action=action, body=body, picks=picks
        )
        return await service.to_read(session, case, dispute, clear=False)


class PartyRevealRead(BaseModel):
    """Who saw a dispute's parties in full, when and why (append-only)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0d3c1c7e-58a2-4a0e-9a3e-6f1d2b7c9e10",
                "actor_id": "9f0e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f",
                "actor_roles": ["grid_worker"],
                "reason": "电话通知调解时间",
                "purpose": "read",
                "request_id": "5f0c1e0e9d8b4b7c",
                "created_at": "2026-12-07T10:00:00Z",
            }
        },
    )

    id: uuid.UUID
    actor_id: str
    actor_roles: list[str]
    reason: str
    purpose: str
    request_id: str | None
    created_at: datetime


@router.get(
    "/{case_id}/mediation/reveals",
    response_model=Page[PartyRevealRead],
    summary="Who saw the parties in full (reveal audit)",
    description="Every reveal of this dispute's parties — reads with `reveal=true` and the "
    "documents that print them (`agreement_docx`, `record_docx`) — newest first. Admins and "
    "supervisors over the case.",
    responses=problem_responses(401, 403, 404),
)
async def list_reveals(
    case_id: CaseId, session: SessionDep, principal: AuditorDep, page: PageDep
) -> Page[PartyRevealRead]:
    _, dispute, _ = await visible(session, principal, case_id)
    if dispute is None:
        raise _no_file()
    table = DisputePartyReveal.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        sa.select(DisputePartyReveal).where(table.c.dispute_id == dispute.id),
        order_by=[table.c.created_at, table.c.id],
        params=page,
        descending=True,
        to_item=PartyRevealRead.model_validate,
    )


# ------------------------------------------------------------------------------ documents

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCX_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {DOCX: {}}, "description": "the document (DOCX)"}
}


def _docx(rendered: documents.Rendered) -> Response:
    return Response(
        rendered.content,
        media_type=DOCX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(rendered.filename)}"},
    )


async def _for_document(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    reason: str | None,
    purpose: str,
) -> Any:
    case, dispute, rows = await visible(session, principal, case_id)
    if dispute is None:
        raise _no_file()
    # the documents print the parties in full: the same right as a reveal, audited
    if not service.may_reveal(principal, case, dispute, rows):
        raise Forbidden(
            Text(
                "只有调解员和所在层级的调度员、网格长可以制作调解文书",
                "Only the mediators and the level's dispatchers and grid leaders make the "
                "mediation documents",
            ),
            code="mediation_not_permitted",
        )
    default = "制作调解协议书" if purpose == "agreement_docx" else "制作调解笔录"
    await service.record_reveal(
        session, principal, dispute, reason=reason or default, purpose=purpose
    )
    parties = [service.open_party(p) for p in await service.parties(session, dispute.id)]
    return case, dispute, rows, parties


@router.get(
    "/{case_id}/mediation/agreement.docx",
    response_class=Response,
    summary="The mediation agreement (调解协议书) as DOCX",
    description="Generated in Chinese from the agreement template (`/api/v1/mediation/templates/"
    "agreement`): the parties in full, the facts and each party's responsibility, the terms "
    "as a table with how, where and by when each is performed, the effect and judicial "
    "confirmation clause, one copy per party and one kept, and the signature lines of every "
    "party and mediator with the committee's seal. For the mediators and the level's "
    "coordinators; the parties are printed in full, so each download is a row of the reveal "
    "audit (`purpose: agreement_docx`). 409 `no_agreement` before an agreement.",
    responses={**DOCX_RESPONSE, **problem_responses(401, 403, 404, 409)},
)
async def agreement_document(
    case_id: CaseId,
    session: SessionDep,
    principal: CurrentPrincipal,
    reason: Annotated[str | None, Query(max_length=500, examples=["送达当事人签字"])] = None,
) -> Response:
    case, dispute, rows, parties = await _for_document(
        session, principal, case_id, reason, "agreement_docx"
    )
    terms = await service.terms(session, dispute.id)
    if not terms:
        raise Conflict(
            Text("此纠纷尚未达成调解协议", "This dispute has no agreement yet"), code="no_agreement"
        )
    rendered = await documents.agreement_docx(
        session,
        case_number=case.case_number,
        dispute=dispute,
        parties=parties,
        mediators=rows,
        terms=terms,
    )
    return _docx(rendered)


@router.get(
    "/{case_id}/mediation/sessions/{number}/record.docx",
    response_class=Response,
    summary="A session's record (调解笔录) as DOCX",
    description="Generated from the record template: the session's time, place and attendees, "
    "the parties, the notice of their rights, the record as written at `record_session`, and "
    "the signature lines of the parties, the mediators and the recorder. Audited like a reveal "
    "(`purpose: record_docx`). 404 `session_not_found`.",
    responses={**DOCX_RESPONSE, **problem_responses(401, 403, 404)},
)
async def record_document(
    case_id: CaseId,
    number: Annotated[int, Path(ge=1, description="the session's number in the file")],
    session: SessionDep,
    principal: CurrentPrincipal,
    reason: Annotated[str | None, Query(max_length=500, examples=["归档"])] = None,
) -> Response:
    case, dispute, rows, parties = await _for_document(
        session, principal, case_id, reason, "record_docx"
    )
    sitting = next(
        (s for s in await service.sessions(session, dispute.id) if s.number == number), None
    )
    if sitting is None:
        raise NotFound(Text("没有这次调解", "No such session"), code="session_not_found")
    rendered = await documents.record_docx(
        session,
        case_number=case.case_number,
        dispute=dispute,
        parties=parties,
        mediators=rows,
        sitting=sitting,
    )
    return _docx(rendered)


templates_router = APIRouter(prefix="/api/v1/mediation", tags=["mediation"])
AdminDep = Annotated[Principal, require_roles(Role.admin)]
StaffDep = Annotated[
    Principal,
    require_roles(Role.admin, Role.dispatcher, Role.grid_leader, Role.grid_worker, Role.supervisor),
]
KindPath = Annotated[
    str,
    Path(pattern="^(agreement|record)$", description="agreement (调解协议书) or record (调解笔录)"),
]


@templates_router.get(
    "/templates/{kind}",
    response_model=TemplateRead,
    summary="Read a mediation document template",
    description="The administrator's version, or the built-in one (`customised: false`). "
    "`required_placeholders` are the elements the rules require; they cannot be removed.",
    responses=problem_responses(401, 403, 422),
)
async def read_template(kind: KindPath, session: SessionDep, principal: StaffDep) -> TemplateRead:
    return documents.template_read(kind, await documents.get_template(session, kind))


@templates_router.put(
    "/templates/{kind}",
    response_model=TemplateRead,
    summary="Change a mediation document template (admins)",
    description="Title and blocks (`heading` or `paragraph`) with `{placeholders}`. Every "
    "required placeholder must stay in (422 `invalid_template`, `errors[].field: blocks`); an "
    "unknown one is 422 naming the block (`blocks[3].text`). A block that is exactly `{terms}` "
    "becomes the table of terms, `{parties}` one line per party, `{signatures}` the signature "
    "and seal lines.",
    responses=problem_responses(401, 403, 422),
)
async def change_template(
    kind: KindPath, body: TemplateUpdate, session: SessionDep, principal: AdminDep
) -> TemplateRead:
    row = await documents.put_template(session, kind, body, principal.subject)
    return documents.template_read(kind, row)


@templates_router.delete(
    "/templates/{kind}",
    response_model=TemplateRead,
    summary="Go back to the built-in template (admins)",
    description="Drops the administrator's version; the built-in template is used again.",
    responses=problem_responses(401, 403, 422),
)
async def reset_template(kind: KindPath, session: SessionDep, principal: AdminDep) -> TemplateRead:
    await documents.reset_template(session, kind)
    return documents.template_read(kind, None)


# ------------------------------------------------------------------------------ ledger, indicators

ReportersDep = Annotated[
    Principal, require_roles(Role.admin, Role.dispatcher, Role.supervisor, Role.grid_leader)
]
MONTH = r"^20\d{2}-(0[1-9]|1[0-2])$"  # 2000-01 … 2099-12: year 0 is no date


def check_covers(principal: Principal, area_path: str) -> None:
    """The reports of an area are for admins and the people working over it."""
    if not principal.has_role(Role.admin) and not principal.covers_area(area_path):
        raise Forbidden(
            Text("该区域不在您的辖区内", "That area is outside your jurisdiction"),
            code="area_not_covered",
        )


def _period(
    area_path: str, principal: Principal, from_month: str, to_month: str | None
) -> reports.Period:
    check_covers(principal, area_path)
    first = date.fromisoformat(from_month + "-01")
    last = date.fromisoformat((to_month or from_month) + "-01")
    if last < first:
        raise ValidationFailed(
            Text("结束月份早于开始月份", "to_month is before from_month"),
            code="invalid_period",
            errors=[
                FieldProblem(
                    field="query.to_month", reason=Text("早于 from_month", "before from_month")
                )
            ],
        )
    return reports.month_period(first, last)


AreaQuery = Annotated[
    str,
    Query(
        max_length=255,
        pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$",
        description="area subtree",
        examples=["330100.330106.330106001"],
    ),
]
FromMonth = Annotated[
    str, Query(pattern=MONTH, description="first month, YYYY-MM", examples=["2026-12"])
]
ToMonth = Annotated[
    str | None,
    Query(pattern=MONTH, description="last month (default from_month)", examples=["2026-12"]),
]


LEDGER_EXAMPLE = {
    "area_path": "330100.330106",
    "from_month": "2026-12",
    "to_month": "2026-12",
    "items": [
        {
            "case_id": "5b7b4a1e-2f0c-4d8e-9c1a-3e2f1d0c9b8a",
            "case_number": "XH20261207-0001",
            "filed_on": "2026-12-07",
            "dispute_type": "邻里纠纷",
            "area": "文新社区",
            "parties": "张*、李*",
            "people_involved": 2,
            "amount_yuan": 3000.0,
            "risk": "一般",
            "level": "社区（村）人民调解委员会",
            "status": "已达成协议",
            "accepted_on": "2026-12-07",
            "agreed_on": "2026-12-09",
            "performance": "待履行",
            "judicial": "未申请",
            "closed_on": "",
        }
    ],
}


@templates_router.get(
    "/ledger",
    response_model=reports.LedgerTable,
    summary="The dispute ledger (矛盾纠纷台账) of an area and period, XLSX or JSON",
    description="One row per dispute filed in the months given whose case lies in the area's "
    "subtree, oldest first: number, date, type, area, parties (masked), people involved, "
    "amount, risk, level, status, acceptance, agreement, performance, judicial confirmation, "
    "close. `format=xlsx` (default) is the file to keep; `format=json` the same rows with each "
    "case's id (the console's ledger page). For admins, and the dispatchers, supervisors and "
    "grid leaders over the area (403 `area_not_covered`).",
    responses={
        200: {
            "content": {
                reports_xlsx: {},
                "application/json": {"example": LEDGER_EXAMPLE},
            },
            "description": "the ledger (XLSX, or JSON with `format=json`)",
        },
        **problem_responses(401, 403, 422),
    },
)
async def ledger(
    session: SessionDep,
    principal: ReportersDep,
    area_path: AreaQuery,
    from_month: FromMonth,
    to_month: ToMonth = None,
    format: Annotated[
        str, Query(pattern="^(xlsx|json)$", description="xlsx (default) or json")
    ] = "xlsx",
) -> Response:
    period = _period(area_path, principal, from_month, to_month)
    if format == "json":
        entries = await reports.ledger_entries(session, area_path, period)
        table = reports.LedgerTable(
            area_path=area_path,
            from_month=from_month,
            to_month=to_month or from_month,
            items=[reports.ledger_entry(case_id, row) for case_id, row in entries],
        )
        return Response(table.model_dump_json(), media_type="application/json")
    rows = await reports.ledger_rows(session, area_path, period)
    return table_response(reports.LEDGER_HEADER, rows, Format.xlsx, f"ledger-{from_month}")


@templates_router.get(
    "/indicators",
    response_model=reports.MediationIndicatorTable,
    summary="Mediation indicators by dispute type, month or level",
    description="Over the disputes filed in the months given in the area's subtree: registered "
    "(排查登记), accepted, mediated successfully (agreements / accepted: 调解成功率), performed "
    "(performed / agreements: 履行率), judicially confirmed, 重大, group disputes (people "
    "involved ≥ `CASE_MEDIATION_MAJOR_PEOPLE`) and the average days from acceptance to "
    "agreement or close; one row per `by` group and a total.",
    responses=problem_responses(401, 403, 422),
)
async def indicator_table(
    session: SessionDep,
    principal: ReportersDep,
    area_path: AreaQuery,
    from_month: FromMonth,
    to_month: ToMonth = None,
    by: Annotated[str, Query(pattern="^(type|month|level)$", examples=["type"])] = "type",
) -> reports.MediationIndicatorTable:
    period = _period(area_path, principal, from_month, to_month)
    groups, total = await reports.indicators(session, area_path, period, by)
    return reports.MediationIndicatorTable(
        area_path=area_path,
        from_month=from_month,
        to_month=to_month or from_month,
        by=by,
        groups=groups,
        total=total,
    )


@router.get(
    "/{case_id}/mediation/archive.zip",
    response_class=Response,
    summary="The whole file of a dispute as one archive (一档一册)",
    description="A ZIP of everything the file holds: `档案.json` (the file with the parties in "
    "full, mediators, sessions, terms, judicial confirmation), `时间线.json` (the case's whole "
    "timeline), `调解协议书.docx` when there is an agreement, `调解笔录-第N次.docx` for each "
    "recorded session and `附件/` with the case's attachments. For the mediators and the "
    "level's coordinators; audited like a reveal (`purpose: archive`).",
    responses={
        200: {"content": {"application/zip": {}}, "description": "the archive (ZIP)"},
        **problem_responses(401, 403, 404),
    },
)
async def archive(
    request: Request,
    case_id: CaseId,
    session: SessionDep,
    principal: CurrentPrincipal,
    reason: Annotated[str | None, Query(max_length=500, examples=["卷宗归档"])] = None,
) -> Response:
    case, dispute, rows, parties = await _for_document(
        session, principal, case_id, reason or "一档一册归档", "archive"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        read = await service.to_read(session, case, dispute, clear=True)
        zf.writestr("档案.json", read.model_dump_json(indent=2))
        entries = await cases.timeline(session, case.id, public_only=False)
        timeline = [TimelineRead.model_validate(e).model_dump(mode="json") for e in entries]
        zf.writestr("时间线.json", json.dumps(timeline, ensure_ascii=False, indent=2))
        terms = await service.terms(session, dispute.id)
        if terms:
            doc = await documents.agreement_docx(
                session,
                case_number=case.case_number,
                dispute=dispute,
                parties=parties,
                mediators=rows,
                terms=terms,
            )
            zf.writestr("调解协议书.docx", doc.content)
        for sitting in await service.sessions(session, dispute.id):
            if sitting.record:
                doc = await documents.record_docx(
                    session,
                    case_number=case.case_number,
                    dispute=dispute,
                    parties=parties,
                    mediators=rows,
                    sitting=sitting,
                )
                zf.writestr(f"调解笔录-第{sitting.number}次.docx", doc.content)
        storage = request.app.state.storage
        found = await session.execute(
            sa.select(Attachment).where(Attachment.__table__.c.case_id == case.id)  # type: ignore[attr-defined]
        )
        for a in found.scalars():
            zf.writestr(f"附件/{a.id}-{a.filename or a.kind}", await storage.get(a.storage_key))
    name = quote(f"一档一册-{case.case_number}.zip")
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )

"""The 调解协议书 and 调解笔录 as DOCX (python-docx), from templates an administrator can change.

A template is a title and a list of blocks (heading or paragraph) with ``{placeholders}``. The
placeholders the rules require must stay in (人民调解法 §29, 人民调解工作若干规定 §35-36: the
parties, the facts and responsibility, the terms with how/where/when they are performed, the
signatures and the committee's seal); a block that is exactly ``{terms}`` becomes the table of
terms (协议内容 / 履行方式 / 履行地点 / 履行期限), ``{signatures}`` the signature and seal lines.
"""

from __future__ import annotations

import io
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.mediation import lifecycle as lc
from case_service.mediation.models import (
    Dispute,
    DisputeMediator,
    DisputeSession,
    DisputeTerm,
    MediationTemplate,
)
from case_service.mediation.schemas import TemplateBlock, TemplateRead, TemplateUpdate
from case_service.mediation.service import OpenParty
from case_service.sla import service as sla_service
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import FieldProblem, ValidationFailed

AGREEMENT = "agreement"
RECORD = "record"
KINDS = (AGREEMENT, RECORD)

SIDE_TITLES = {"applicant": "申请人", "respondent": "被申请人"}

DEFAULTS: dict[str, dict[str, Any]] = {
    AGREEMENT: {
        "title": "人民调解协议书",
        "blocks": [
            {"kind": "paragraph", "text": "编号：{case_number}"},
            {"kind": "paragraph", "text": "调解组织：{organisation}"},
            {"kind": "heading", "text": "当事人"},
            {"kind": "paragraph", "text": "{parties}"},
            {"kind": "heading", "text": "纠纷主要事实、争议事项"},
            {"kind": "paragraph", "text": "纠纷类型：{dispute_type}。{facts}"},
            {"kind": "heading", "text": "各方当事人责任"},
            {"kind": "paragraph", "text": "{responsibility}"},
            {"kind": "heading", "text": "经调解，当事人自愿达成如下协议"},
            {"kind": "paragraph", "text": "{terms}"},
            {
                "kind": "paragraph",
                "text": "本协议自各方当事人签名（盖章）、调解员签名并加盖调解委员会印章之日起"
                "生效。当事人可以自本协议生效之日起三十日内共同向人民法院申请司法确认。",
            },
            {
                "kind": "paragraph",
                "text": "本协议一式{copies}份，当事人各执一份，调解委员会留存一份。",
            },
            {"kind": "paragraph", "text": "{signatures}"},
        ],
    },
    RECORD: {
        "title": "人民调解笔录",
        "blocks": [
            {"kind": "paragraph", "text": "编号：{case_number}    第{session_number}次调解"},
            {"kind": "paragraph", "text": "调解组织：{organisation}"},
            {"kind": "paragraph", "text": "时间：{session_time}"},
            {"kind": "paragraph", "text": "地点：{session_place}"},
            {"kind": "paragraph", "text": "参加人员：{attendees}"},
            {"kind": "heading", "text": "当事人"},
            {"kind": "paragraph", "text": "{parties}"},
            {
                "kind": "paragraph",
                "text": "调解员已告知当事人人民调解的性质、原则和效力，以及当事人在调解活动中"
                "享有的权利和承担的义务。",
            },
            {"kind": "heading", "text": "调解记录"},
            {"kind": "paragraph", "text": "{record}"},
            {"kind": "paragraph", "text": "{signatures}"},
        ],
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {
    AGREEMENT: ("parties", "facts", "responsibility", "terms", "signatures"),
    RECORD: ("parties", "session_time", "session_place", "attendees", "record", "signatures"),
}
ALLOWED: dict[str, frozenset[str]] = {
    AGREEMENT: frozenset(
        {
            *REQUIRED[AGREEMENT],
            "case_number",
            "organisation",
            "dispute_type",
            "copies",
            "date",
            "amount",
        }
    ),
    RECORD: frozenset(
        {*REQUIRED[RECORD], "case_number", "organisation", "session_number", "dispute_type", "date"}
    ),
}


def placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def check_template(kind: str, data: TemplateUpdate) -> None:
    problems: list[FieldProblem] = []
    found: set[str] = set()
    for i, block in enumerate(data.blocks):
        try:
            names = placeholders(block.text)
        except ValueError:
            problems.append(
                FieldProblem(
                    field=f"blocks[{i}].text",
                    reason=Text("花括号不成对", "unbalanced braces"),
                )
            )
            continue
        unknown = [n for n in names if n not in ALLOWED[kind]]
        if unknown:
            problems.append(
                FieldProblem(
                    field=f"blocks[{i}].text",
                    reason=Text(
                        f"未知的占位符：{'、'.join(unknown)}",
                        f"unknown placeholders: {', '.join(unknown)}",
                    ),
                )
            )
        found.update(names)
    for name in REQUIRED[kind]:
        if name not in found:
            problems.append(
                FieldProblem(
                    field="blocks",
                    reason=Text(
                        f"缺少必备要素 {{{name}}}", f"the required element {{{name}}} is missing"
                    ),
                    type="missing",
                )
            )
    if problems:
        raise ValidationFailed(
            Text(
                "文书模板缺少必备要素或有误", "The template misses a required element or is wrong"
            ),
            code="invalid_template",
            errors=problems,
        )


async def get_template(session: AsyncSession, kind: str) -> MediationTemplate | None:
    stmt = sa.select(MediationTemplate).where(col(MediationTemplate.kind) == kind)
    return (await session.execute(stmt)).scalars().first()


def template_read(kind: str, row: MediationTemplate | None) -> TemplateRead:
    source = {"title": row.title, "blocks": row.blocks} if row else DEFAULTS[kind]
    return TemplateRead(
        kind=kind,
        title=source["title"],
        blocks=[TemplateBlock.model_validate(b) for b in source["blocks"]],
        required_placeholders=list(REQUIRED[kind]),
        version=row.version if row else 0,
        customised=row is not None,
        updated_at=row.updated_at if row else None,
    )


async def put_template(
    session: AsyncSession, kind: str, data: TemplateUpdate, actor: str
) -> MediationTemplate:
    check_template(kind, data)
    row = await get_template(session, kind)
    blocks = [b.model_dump() for b in data.blocks]
    if row is None:
        row = MediationTemplate(kind=kind, title=data.title, blocks=blocks, updated_by=actor)
    else:
        row.title, row.blocks, row.version = data.title, blocks, row.version + 1
        row.updated_by, row.updated_at = actor, utcnow()
    session.add(row)
    await session.flush()
    return row


async def reset_template(session: AsyncSession, kind: str) -> None:
    await session.execute(sa.delete(MediationTemplate).where(col(MediationTemplate.kind) == kind))


# ------------------------------------------------------------------------------ rendering


def _local(moment: datetime) -> str:
    return moment.astimezone(sla_service._hours["tz"]).strftime("%Y年%m月%d日 %H:%M")


def _party_line(p: OpenParty) -> str:
    side = SIDE_TITLES[p.side]
    if p.kind == "organisation":
        parts = [f"{side}（单位）：{p.name}"]
        if p.id_number:
            parts.append(f"统一社会信用代码：{p.id_number}")
    else:
        parts = [f"{side}：{p.name}"]
        if p.id_number:
            parts.append(f"身份证号码：{p.id_number}")
    if p.phone:
        parts.append(f"联系电话：{p.phone}")
    if p.address:
        parts.append(f"住址：{p.address}")
    return "，".join(parts)


def _signature_lines(
    parties: list[OpenParty], mediators: list[DisputeMediator], org: str
) -> list[str]:
    lines = [
        f"{SIDE_TITLES[p.side]}（签名或盖章）：{p.name}          ____________" for p in parties
    ]
    lines += [f"调解员（签名）：{m.name}          ____________" for m in mediators]
    lines.append("记录人（签名）：____________")
    lines.append(f"{org}（印章）")
    lines.append("        年    月    日")
    return lines


@dataclass
class Rendered:
    filename: str
    content: bytes


def _document(title: str) -> Any:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "SimSun"
    style.font.size = Pt(12)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")
    heading = doc.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = heading.add_run(title)
    run.bold = True
    run.font.size = Pt(18)
    return doc


def _render(
    title: str,
    blocks: list[dict[str, str]],
    values: dict[str, str],
    *,
    parties: list[OpenParty],
    terms: list[DisputeTerm] | None,
    signatures: list[str],
) -> bytes:
    doc = _document(title)
    for block in blocks:
        text = block["text"]
        if text.strip() == "{terms}" and terms is not None:
            table = doc.add_table(rows=1, cols=5)
            table.style = "Table Grid"
            for cell, head in zip(
                table.rows[0].cells,
                ("序号", "协议内容", "履行方式", "履行地点", "履行期限"),
                strict=True,
            ):
                cell.text = head
            for t in terms:
                row = table.add_row().cells
                row[0].text = str(t.ord + 1)
                row[1].text = t.content
                row[2].text = t.manner
                row[3].text = t.place
                row[4].text = t.deadline_on.strftime("%Y年%m月%d日前")
            continue
        if text.strip() == "{parties}":
            for p in parties:
                doc.add_paragraph(_party_line(p))
            continue
        if text.strip() == "{signatures}":
            for line in signatures:
                doc.add_paragraph(line)
            continue
        filled = text.format_map(values)
        if block["kind"] == "heading":
            para = doc.add_paragraph()
            para.add_run(filled).bold = True
        else:
            for line in filled.split("\n"):
                doc.add_paragraph(line)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _terms_text(terms: list[DisputeTerm]) -> str:
    return "\n".join(
        f"{t.ord + 1}. {t.content}（履行方式：{t.manner}；履行地点：{t.place}；"
        f"履行期限：{t.deadline_on:%Y年%m月%d日}前）"
        for t in terms
    )


async def agreement_docx(
    session: AsyncSession,
    *,
    case_number: str,
    dispute: Dispute,
    parties: list[OpenParty],
    mediators: list[DisputeMediator],
    terms: list[DisputeTerm],
) -> Rendered:
    source = await get_template(session, AGREEMENT)
    tpl = {"title": source.title, "blocks": source.blocks} if source else DEFAULTS[AGREEMENT]
    org = lc.LEVEL_TITLES.get(dispute.level, "人民调解委员会")
    active = [m for m in mediators if m.level == dispute.level] or mediators
    values = {
        "case_number": case_number,
        "organisation": org,
        "parties": "\n".join(_party_line(p) for p in parties),
        "dispute_type": dispute.dispute_type,
        "facts": dispute.facts or "",
        "responsibility": dispute.responsibility or "",
        "terms": _terms_text(terms),
        "copies": str(len(parties) + 1),
        "amount": f"{dispute.amount_yuan}元" if dispute.amount_yuan is not None else "",
        "date": _local(dispute.agreed_at or utcnow())[:11],
        "signatures": "\n".join(_signature_lines(parties, active, org)),
    }
    content = _render(
        tpl["title"],
        tpl["blocks"],
        values,
        parties=parties,
        terms=terms,
        signatures=_signature_lines(parties, active, org),
    )
    return Rendered(f"调解协议书-{case_number}.docx", content)


async def record_docx(
    session: AsyncSession,
    *,
    case_number: str,
    dispute: Dispute,
    parties: list[OpenParty],
    mediators: list[DisputeMediator],
    sitting: DisputeSession,
) -> Rendered:
    source = await get_template(session, RECORD)
    tpl = {"title": source.title, "blocks": source.blocks} if source else DEFAULTS[RECORD]
    org = lc.LEVEL_TITLES.get(sitting.level, "人民调解委员会")
    present = [m for m in mediators if m.level == sitting.level] or mediators
    signatures = _signature_lines(parties, present, org)
    values = {
        "case_number": case_number,
        "organisation": org,
        "session_number": str(sitting.number),
        "session_time": _local(sitting.starts_at),
        "session_place": sitting.place,
        "attendees": "、".join(sitting.attendees) or "（未列明）",
        "parties": "\n".join(_party_line(p) for p in parties),
        "dispute_type": dispute.dispute_type,
        "record": sitting.record or "",
        "date": _local(sitting.starts_at)[:11],
        "signatures": "\n".join(signatures),
    }
    content = _render(
        tpl["title"], tpl["blocks"], values, parties=parties, terms=None, signatures=signatures
    )
    return Rendered(f"调解笔录-{case_number}-{sitting.number}.docx", content)


def docx_text(content: bytes) -> str:
    """Every paragraph and table cell of a DOCX, for reading a document back."""
    doc = Document(io.BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.append(" | ".join(c.text for c in row.cells))
    return "\n".join(parts)

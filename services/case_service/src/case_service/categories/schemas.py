"""Category schemas and the Open311-style attribute form (``attributes``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.i18n import Text
from shared.problem import FieldProblem
from shared.validation_texts import InvalidValue

CODE_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"


class CaseKind(StrEnum):
    """诉求类型 (12345 / 接诉即办)."""

    consultation = "consultation"  # 咨询
    help = "help"  # 求助
    complaint = "complaint"  # 投诉
    report = "report"  # 举报
    suggestion = "suggestion"  # 建议


class Routing(StrEnum):
    """GB/T 30428: 部件先属主后属地，事件先属地后属主."""

    locality = "locality"  # 属地: the grid where it happened
    owner = "owner"  # 属主: the department that owns the category


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class HandlingClass(StrEnum):
    """办件类型 (000:L569)."""

    immediate = "immediate"  # 即办件
    promised = "promised"  # 承诺件
    joint = "joint"  # 联办件
    forwarded = "forwarded"  # 转报件
    urgent = "urgent"  # 急办件


class Disclosure(StrEnum):
    """What the public Open311 feed shows of a category's cases (公开范围; FixMyStreet's
    non-public categories and reports are the model). Ordered: ``none`` < ``summary`` <
    ``public``; a 小类 never shows more than its 大类 allows."""

    public = "public"  # 公开: the request, its exact point, the redacted description
    summary = "summary"  # 摘要: as public, the point rounded (~100 m), no address or photo
    none = "none"  # 不公开: neither the service nor its requests are listed


DISCLOSURE_DESCRIPTION = (
    "What the public Open311 feed (`/open311/v2/`) shows of this category's cases (公开范围; "
    "FixMyStreet's non-public categories are the model): `public` — the request with its exact "
    "point and address, the description with phone, ID-card, bank-card and plate numbers "
    "redacted; `summary` — the same, but the point rounded to 3 decimals (about 100 m), the "
    "address replaced by the area's name and no photo; `none` — neither the service nor any of "
    "its requests is shown (a request asked for by id answers 404). Defaults to `none`: a "
    "category is opened to the public on purpose. A 小类 never shows more than its 大类; "
    "anonymous reports are never shown, whatever the category. See docs/security.md, "
    '"Open311 disclosure policy".'
)


class AttributeType(StrEnum):
    """Open311 GeoReport v2 ``datatype``."""

    string = "string"
    number = "number"
    datetime = "datetime"
    text = "text"
    singlevaluelist = "singlevaluelist"
    multivaluelist = "multivaluelist"


class AttributeValue(BaseModel):
    key: str = Field(min_length=1, max_length=64, examples=["blocked"])
    name: str = Field(min_length=1, max_length=100, examples=["完全堵塞"])


class AttributeDefinition(BaseModel):
    """One extra field a category asks for on intake (Open311 ``attribute``)."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["depth_cm"])
    name: str = Field(min_length=1, max_length=100, examples=["坑槽深度(厘米)"])
    datatype: AttributeType
    required: bool = False
    order: int = Field(0, ge=0, le=1000)
    description: str | None = Field(None, max_length=500)
    values: list[AttributeValue] = Field(
        default_factory=list, description="choices of a single/multi value list"
    )

    @model_validator(mode="after")
    def _lists_have_values(self) -> Self:
        is_list = self.datatype in {AttributeType.singlevaluelist, AttributeType.multivaluelist}
        if is_list and not self.values:
            raise InvalidValue("取值列表至少需要一个值", "a value list needs at least one value")
        if not is_list and self.values:
            raise InvalidValue("只有取值列表类型才能有取值", "only value lists take values")
        keys = [v.key for v in self.values]
        if len(keys) != len(set(keys)):
            raise InvalidValue("取值的键不能重复", "value keys must be unique")
        return self


class CategoryBase(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["路面坑槽"])
    description: str | None = Field(None, max_length=1000)
    kind: CaseKind = Field(examples=["report"])
    routing: Routing = Field(Routing.locality, examples=["locality"])
    owner_department_id: str | None = Field(
        None, max_length=64, description="the owning department (属主); required for owner routing"
    )
    default_priority: Priority = Priority.normal
    handling_class: HandlingClass = HandlingClass.promised
    duplicate_radius_m: int = Field(50, ge=1, le=5000, description="duplicate search radius")
    duplicate_window_hours: int = Field(72, ge=1, le=24 * 90, description="duplicate window")
    attributes: list[AttributeDefinition] = Field(default_factory=list, max_length=30)
    public_disclosure: Disclosure = Field(
        Disclosure.none, title="公开范围", description=DISCLOSURE_DESCRIPTION, examples=["summary"]
    )
    active: bool = True

    @model_validator(mode="after")
    def _owner_needs_department(self) -> Self:
        if self.routing is Routing.owner and not self.owner_department_id:
            raise InvalidValue(
                "属主派遣（属主）需要 owner_department_id",
                "owner routing (属主) needs owner_department_id",
            )
        codes = [a.code for a in self.attributes]
        if len(codes) != len(set(codes)):
            raise InvalidValue("属性编码不能重复", "attribute codes must be unique")
        return self


class CategoryCreate(CategoryBase):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "code": "0501",
                "parent_code": "05",
                "name": "路面坑槽",
                "kind": "report",
                "routing": "owner",
                "owner_department_id": "dept-urban",
                "default_priority": "normal",
                "handling_class": "promised",
                "public_disclosure": "public",
                "attributes": [
                    {"code": "depth_cm", "name": "深度(厘米)", "datatype": "number"},
                ],
            }
        }
    )

    code: str = Field(pattern=CODE_PATTERN, examples=["0501"])
    parent_code: str | None = Field(
        None, pattern=CODE_PATTERN, description="the 大类 this 小类 belongs to; null for a 大类"
    )


class CategoryUpdate(CategoryBase):
    """The whole new definition; it becomes version ``n + 1``."""


class CategoryRead(CategoryBase):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="id of this version")
    code: str
    version: int
    parent_code: str | None
    created_at: datetime

    @field_validator("attributes", mode="before")
    @classmethod
    def _sorted(cls, value: Any) -> Any:
        if isinstance(value, list):
            return sorted(value, key=lambda a: a["order"] if isinstance(a, dict) else a.order)
        return value


def validate_attribute_values(
    definitions: list[AttributeDefinition], values: dict[str, Any]
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Check intake ``attributes`` against a category's form; return (clean values, problems)."""
    problems: list[FieldProblem] = []
    clean: dict[str, Any] = {}
    known = {d.code: d for d in definitions}
    for code in values:
        if code not in known:
            problems.append(
                FieldProblem(
                    field=f"attributes.{code}",
                    reason=Text("未知的属性", "unknown attribute"),
                    type="extra",
                )
            )
    for d in definitions:
        field = f"attributes.{d.code}"
        value = values.get(d.code)
        if value is None or value == "" or value == []:
            if d.required:
                problems.append(
                    FieldProblem(field=field, reason=Text("必填项", "required"), type="missing")
                )
            continue
        keys = {v.key for v in d.values}
        if d.datatype in {AttributeType.string, AttributeType.text}:
            limit = 200 if d.datatype is AttributeType.string else 4000
            if not isinstance(value, str) or len(value) > limit:
                problems.append(
                    FieldProblem(
                        field=field,
                        reason=Text(
                            f"应为不超过 {limit} 个字符的文本", f"must be text of ≤ {limit}"
                        ),
                    )
                )
                continue
        elif d.datatype is AttributeType.number:
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(
                    FieldProblem(field=field, reason=Text("应为数值", "must be a number"))
                )
                continue
        elif d.datatype is AttributeType.datetime:
            try:
                value = datetime.fromisoformat(str(value)).isoformat()
            except ValueError:
                problems.append(
                    FieldProblem(
                        field=field,
                        reason=Text("应为 ISO 8601 日期时间", "must be an ISO 8601 datetime"),
                    )
                )
                continue
        elif d.datatype is AttributeType.singlevaluelist:
            if value not in keys:
                problems.append(
                    FieldProblem(
                        field=field,
                        reason=Text(
                            f"应为以下之一：{sorted(keys)}", f"must be one of {sorted(keys)}"
                        ),
                    )
                )
                continue
        elif d.datatype is AttributeType.multivaluelist and (
            not isinstance(value, list) or not value or any(v not in keys for v in value)
        ):
            problems.append(
                FieldProblem(
                    field=field,
                    reason=Text(
                        f"应为由以下取值组成的列表：{sorted(keys)}",
                        f"must be a list drawn from {sorted(keys)}",
                    ),
                )
            )
            continue
        clean[d.code] = value
    return clean, problems

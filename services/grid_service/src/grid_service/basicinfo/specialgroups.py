"""The special groups of GB/T 31000 (特殊人群) and the follow-up fields each one carries."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.i18n import Text
from shared.problem import FieldProblem
from shared.validation_texts import reason_for as localised


class SpecialGroup(StrEnum):
    low_income = "low_income"  # 低保对象
    elderly_living_alone = "elderly_living_alone"  # 独居老人
    disabled = "disabled"  # 残疾人
    left_behind_child = "left_behind_child"  # 留守儿童
    released_prisoner = "released_prisoner"  # 刑满释放人员 (安置帮教)
    community_correction = "community_correction"  # 社区矫正人员
    serious_mental_disorder = "serious_mental_disorder"  # 严重精神障碍患者
    drug_user = "drug_user"  # 吸毒人员
    key_petitioner = "key_petitioner"  # 重点信访人员


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LowIncome(_Fields):
    allowance_certificate_no: str | None = Field(None, max_length=50, title="低保证号")
    monthly_allowance_yuan: float | None = Field(None, ge=0, title="月保障金")


class ElderlyLivingAlone(_Fields):
    care_contact_name: str | None = Field(None, max_length=100, title="联系亲属")
    self_care_ability: str | None = Field(
        None, pattern="^(full|partial|none)$", title="自理能力: full/partial/none"
    )


class Disabled(_Fields):
    disability_certificate_no: str | None = Field(None, max_length=50, title="残疾证号")
    disability_category: str | None = Field(
        None,
        pattern="^(visual|hearing|speech|physical|intellectual|mental|multiple)$",
        title="残疾类别",
    )
    disability_grade: int | None = Field(None, ge=1, le=4, title="残疾等级")


class LeftBehindChild(_Fields):
    guardian_name: str | None = Field(None, max_length=100, title="监护人")
    guardian_relationship: str | None = Field(None, max_length=20, title="与监护人关系")
    school: str | None = Field(None, max_length=100, title="就读学校")


class ReleasedPrisoner(_Fields):
    released_on: date | None = Field(None, title="释放日期")
    offence: str | None = Field(None, max_length=100, title="原罪名")
    resettled: bool | None = Field(None, title="是否安置")
    assistance_status: str | None = Field(None, max_length=100, title="帮教情况")


class CommunityCorrection(_Fields):
    correction_kind: str | None = Field(
        None, pattern="^(probation|parole|temporary_outside_custody|control)$", title="矫正类别"
    )
    term_starts_on: date | None = Field(None, title="矫正起始日期")
    term_ends_on: date | None = Field(None, title="矫正解除日期")


class SeriousMentalDisorder(_Fields):
    risk_level: int | None = Field(None, ge=0, le=5, title="危险性评估等级 0-5")
    guardian_name: str | None = Field(None, max_length=100, title="监护人")
    treatment: str | None = Field(None, max_length=200, title="治疗情况")


class DrugUser(_Fields):
    control_status: str | None = Field(
        None,
        pattern="^(community_rehab|community_detox|compulsory|abstinent|other)$",
        title="管控情况",
    )
    last_tested_on: date | None = Field(None, title="最近检测日期")


class KeyPetitioner(_Fields):
    petition_matter: str | None = Field(None, max_length=500, title="信访事项")
    stability_level: str | None = Field(None, pattern="^(low|medium|high)$", title="稳控等级")


FOLLOW_UP_FIELDS: dict[SpecialGroup, type[_Fields]] = {
    SpecialGroup.low_income: LowIncome,
    SpecialGroup.elderly_living_alone: ElderlyLivingAlone,
    SpecialGroup.disabled: Disabled,
    SpecialGroup.left_behind_child: LeftBehindChild,
    SpecialGroup.released_prisoner: ReleasedPrisoner,
    SpecialGroup.community_correction: CommunityCorrection,
    SpecialGroup.serious_mental_disorder: SeriousMentalDisorder,
    SpecialGroup.drug_user: DrugUser,
    SpecialGroup.key_petitioner: KeyPetitioner,
}


TAG_TITLES: dict[SpecialGroup, str] = {
    SpecialGroup.low_income: "低保对象",
    SpecialGroup.elderly_living_alone: "独居老人",
    SpecialGroup.disabled: "残疾人",
    SpecialGroup.left_behind_child: "留守儿童",
    SpecialGroup.released_prisoner: "刑满释放人员（安置帮教）",
    SpecialGroup.community_correction: "社区矫正人员",
    SpecialGroup.serious_mental_disorder: "严重精神障碍患者",
    SpecialGroup.drug_user: "吸毒人员",
    SpecialGroup.key_petitioner: "重点信访人员",
}


def details_json_schema() -> dict[str, Any]:
    """The OpenAPI schema of ``details``: one model per tag, each saying which tag it is for."""
    variants = []
    for tag, model in FOLLOW_UP_FIELDS.items():
        schema = model.model_json_schema()
        schema["title"] = model.__name__
        schema["description"] = f"`{tag.value}`（{TAG_TITLES[tag]}）的随访字段 / follow-up fields"
        variants.append(schema)
    return {
        "type": "object",
        "description": "the group's own follow-up fields: the model of the tag in the path",
        "oneOf": variants,
    }


def validate_details(
    tag: SpecialGroup, details: dict[str, Any]
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The tag's follow-up fields, checked; problems name ``details.<field>``. A field of
    another tag is refused with the list of the fields this tag has."""
    model = FOLLOW_UP_FIELDS[tag]
    try:
        return model.model_validate(details).model_dump(mode="json", exclude_none=True), []
    except ValidationError as exc:
        allowed = ", ".join(model.model_fields)
        problems = [
            FieldProblem(
                field="details." + ".".join(str(p) for p in err["loc"]),
                reason=Text(
                    f"{TAG_TITLES[tag]}没有这个随访字段，可填：{allowed}",
                    f"not a follow-up field of {tag.value}; its fields are: {allowed}",
                )
                if err["type"] == "extra_forbidden"
                else localised(err),
                type=str(err["type"]),
            )
            for err in exc.errors()
        ]
        return {}, problems

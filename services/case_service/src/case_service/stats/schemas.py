"""Indicator definitions and the shapes of the statistics answers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Indicator:
    name: str
    title: str  # 中文名
    numerator: str  # a case_fact flag (or "received": every case)
    denominator: str | None  # ditto; None: a plain count


#: Every indicator as numerator / denominator over ``case_fact`` (see ``stats.rollup``).
INDICATORS: tuple[Indicator, ...] = (
    Indicator("received", "受理量(接收)", "received", None),
    Indicator("accepted", "受理率", "accepted", "received"),
    Indicator("on_time_acceptance", "按时受理率", "accepted_on_time", "accepted"),
    Indicator("dispatched", "派遣率", "dispatched", "accepted"),
    Indicator("resolved", "办结率", "resolved", "received"),
    Indicator("on_time_resolution", "按期办结率", "resolved_on_time", "resolved"),
    Indicator("resolved_ahead", "提前办结率", "resolved_ahead", "resolved"),
    Indicator("overdue", "超期率", "overdue", "received"),
    Indicator("overdue_open", "超期未办结", "overdue_open", "received"),
    Indicator("overdue_closed", "超期办结", "overdue_closed", "received"),
    Indicator("self_handled", "自行处置率", "self_handled", "received"),
    Indicator("on_spot", "现场办结率", "on_spot", "resolved"),
    Indicator("escalated", "上报率", "escalated", "received"),
    Indicator("returned", "退回率", "returned", "received"),
    Indicator("rework", "返工率", "rework", "resolved"),
    Indicator("reopened", "重办率(差评整改)", "reopened", "received"),
    Indicator("rating_rate", "评议率", "rated", "closed"),
    Indicator("satisfaction_rate", "满意率", "satisfied", "rated"),
)
BY_NAME = {i.name: i for i in INDICATORS}
RATE_INDICATORS = tuple(i.name for i in INDICATORS if i.denominator is not None)
#: Rates where a higher figure is worse (the ranking turns them round).
LOWER_IS_BETTER = frozenset(
    {"overdue", "overdue_open", "overdue_closed", "escalated", "returned", "rework", "reopened"}
)


class GroupBy(StrEnum):
    none = "none"
    area = "area"  # child areas of the area asked for
    department = "department"  # lead department
    category = "category"


class Interval(StrEnum):
    day = "day"
    week = "week"  # ISO weeks, keyed by their Monday
    month = "month"


class Format(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class Figure(BaseModel):
    numerator: int
    denominator: int | None = Field(description="null for plain counts")
    rate: float | None = Field(description="numerator / denominator, 4 decimals; null if 0/0")


class IndicatorRow(BaseModel):
    """The figures of one group (or of one period of a series)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "330100.330106.330106001",
                    "indicators": {
                        "received": {"numerator": 120, "denominator": None, "rate": None},
                        "on_time_resolution": {"numerator": 96, "denominator": 100, "rate": 0.96},
                    },
                    "handling_hours": {"resolved": 100, "average": 5.25, "p90": 11.5},
                }
            ]
        }
    )

    key: str | None = Field(
        description="group key: area path, department id, category code, "
        "period start (series), or 'all'"
    )
    indicators: dict[str, Figure]
    handling_hours: dict[str, Any] = Field(
        description="working hours report → resolution over resolved cases: resolved, "
        "average, p90 (null when none)"
    )


class IndicatorTable(BaseModel):
    area_path: str | None
    date_from: str
    date_to: str
    group_by: str
    rows: list[IndicatorRow]
    definitions: dict[str, dict[str, Any]] = Field(
        description="each indicator's title, numerator and denominator"
    )


class RankingRow(BaseModel):
    rank: int
    key: str | None
    numerator: int
    denominator: int
    rate: float | None
    list: str = Field(description="red, yellow, green, or none (no cases to judge)")


class Ranking(BaseModel):
    by: str
    indicator: str
    red_threshold: float
    yellow_threshold: float
    rows: list[RankingRow]
    red_list: list[str | None]
    yellow_list: list[str | None]


class NegativeRow(BaseModel):
    handler_id: str
    cases: int
    overdue: int
    dissatisfied: int
    overdue_case_ids: list[str]
    dissatisfied_case_ids: list[str]


class NegativeList(BaseModel):
    year: int
    rows: list[NegativeRow]

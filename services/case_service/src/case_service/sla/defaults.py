"""The time-limit policies that ship with the seed catalogue (loaded with the demo data and
available to any deployment as a starting point; admins change them through the API).

* 急办件 (urgent): on the clock, as 12345 centres do — accept 30 min, dispatch 1 h, first
  feedback 2 h, resolve 24 h, escalated automatically when missed.
* 咨询 (consultations): answered within 3 working days.
* By handling level (004:L50 "镇级能够办理的事项,一天内必须办结回复;要到市级办理的事项,一周内"):
  community and street 1 working day, escalated automatically when missed (小事不出村、
  大事不出镇); district 3 working days; city 5 working days (a week).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.sla.models import SlaPolicy


def _l(amount: float, unit: str) -> dict[str, Any]:
    return {"amount": amount, "unit": unit}


_DAY_OF_OFFICE = {
    "accept": _l(2, "working_hours"),
    "dispatch": _l(4, "working_hours"),
    "first_response": _l(1, "working_days"),
}

DEFAULT_POLICIES: list[dict[str, Any]] = [
    {
        "name": "急办件（按自然时计）",
        "priority": "urgent",
        "limits": {
            "accept": _l(0.5, "calendar_hours"),
            "dispatch": _l(1, "calendar_hours"),
            "first_response": _l(2, "calendar_hours"),
            "resolve": _l(24, "calendar_hours"),
        },
        "auto_escalate": True,
    },
    {
        "name": "咨询类 3 个工作日答复",
        "kind": "consultation",
        "limits": {**_DAY_OF_OFFICE, "resolve": _l(3, "working_days")},
    },
    *[
        {
            "name": f"{label}级办理时限",
            "handling_level": level,
            "limits": {**_DAY_OF_OFFICE, "resolve": _l(days, "working_days")},
            "auto_escalate": auto,
        }
        for level, label, days, auto in [
            ("grid", "网格", 1, True),
            ("community", "社区", 1, True),
            ("street", "街道", 1, True),
            ("district", "区县", 3, False),
            ("city", "市", 5, False),
        ]
    ],
]


async def load_default_policies(session: AsyncSession) -> int:
    """Insert the default policies whose name is not there yet; returns how many were added."""
    existing = set((await session.execute(sa.select(col(SlaPolicy.name)))).scalars().all())
    added = 0
    for spec in DEFAULT_POLICIES:
        if spec["name"] in existing:
            continue
        session.add(SlaPolicy(**spec, created_by="seed"))
        added += 1
    await session.flush()
    return added

"""``shared.db.new_row``: the intake's cheap constructor makes the row the model's own would."""

from __future__ import annotations

import uuid

from sqlalchemy import inspect

from case_service.cases.models import Case
from shared.db import new_row, utcnow


def test_new_row_has_the_values_and_defaults_of_the_constructor() -> None:
    now = utcnow()
    values = {
        "case_number": "20261207000001",
        "status": "reported",
        "category_id": uuid.uuid4(),
        "category_code": "0101",
        "category_name": "占道经营",
        "kind": "complaint",
        "routing": "grid",
        "handling_class": "general",
        "priority": "normal",
        "title": "占道经营",
        "area_path": "330100.330106",
        "reported_by_account_id": "acc-1",
        "created_at": now,
        "updated_at": now,
    }
    made, fast = Case(**values), new_row(Case, **values)
    columns = [c.key for c in Case.__table__.c]  # type: ignore[attr-defined]
    assert {k: getattr(fast, k) for k in columns if k != "id"} == {
        k: getattr(made, k) for k in columns if k != "id"
    }
    assert isinstance(fast.id, uuid.UUID)
    assert fast.id != made.id
    assert fast.attributes == {}
    assert fast.attributes is not new_row(Case, **values).attributes
    assert fast.__pydantic_fields_set__ == set(values)
    assert inspect(fast).transient
    fast.status = "accepted"  # an instrumented, pydantic-visible attribute like any other
    assert fast.model_dump()["status"] == "accepted"

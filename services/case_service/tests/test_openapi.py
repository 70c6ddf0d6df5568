"""The API documents itself: every case, category and attachment endpoint has a summary, a
description and its problem responses; the bodies carry examples."""

from __future__ import annotations

import httpx

MINE = ("/api/v1/cases", "/api/v1/categories", "/api/v1/attachments")


async def test_every_endpoint_is_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [
        (method, path, op)
        for path, ops in spec["paths"].items()
        if path.startswith(MINE)
        for method, op in ops.items()
    ]
    assert len(operations) >= 15
    for method, path, op in operations:
        assert op.get("summary"), (method, path)
        assert op.get("description"), (method, path)
        assert any(code.startswith("4") for code in op["responses"]), (method, path)
    schemas = spec["components"]["schemas"]
    for name in ("CaseCreate", "CategoryCreate", "CommentCreate", "CaseActionRequest"):
        assert "example" in schemas[name] or "examples" in schemas[name], name
    action = spec["paths"]["/api/v1/cases/{case_id}/actions/{action}"]["post"]
    examples = action["requestBody"]["content"]["application/json"]["examples"]
    assert {"dispatch", "joint", "resolve", "return", "rate"} <= set(examples)


async def test_schema_names_are_unique(client: httpx.AsyncClient) -> None:
    """Two models of one name (mediation's Action beside the cases' Action) make FastAPI fall
    back to module-qualified names, which renames types the console is built against."""
    spec = (await client.get("/openapi.json")).json()
    qualified = [name for name in spec["components"]["schemas"] if "__" in name]
    assert qualified == []
    for name in ("Action", "Figure", "IndicatorTable"):
        assert name in spec["components"]["schemas"], name

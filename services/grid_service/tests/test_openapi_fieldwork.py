"""Every endpoint of basic information, privacy, patrols, visits and points is documented:
summary, description, an example of what it answers, and examples of the body it takes."""

from __future__ import annotations

from typing import Any

TAGS = {"basic information", "privacy", "patrols", "visits", "points"}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        resolved: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return resolved
    return schema


def test_every_endpoint_has_summary_description_and_examples(app: Any) -> None:
    spec = app.openapi()
    missing = []
    seen = 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if not TAGS.intersection(op.get("tags", [])):
                continue
            seen += 1
            name = f"{method.upper()} {path}"
            if not op.get("summary") or not op.get("description"):
                missing.append(f"{name}: summary/description")
            ok = {k: v for k, v in op["responses"].items() if k.startswith("2") and k != "204"}
            contents = [c for r in ok.values() for c in r.get("content", {}).values()]
            if ok and not any("example" in c or "examples" in c for c in contents):
                missing.append(f"{name}: response example")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                schema = _resolve(spec, body["schema"])
                if "examples" not in schema and "example" not in schema:
                    missing.append(f"{name}: request example")
    assert seen > 40
    assert missing == [], "\n".join(missing)

"""Every endpoint of the tree, locate, members, departments, accounts and recipients is
documented: summary, description, and an example of what it answers."""

from __future__ import annotations

from typing import Any

TAGS = {
    "auth",
    "accounts",
    "platform clients",
    "areas",
    "locate",
    "members",
    "departments",
    "recipients",
}


def test_every_endpoint_has_summary_description_and_example(app: Any) -> None:
    spec = app.openapi()
    missing = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if not TAGS.intersection(op.get("tags", [])):
                continue
            name = f"{method.upper()} {path}"
            if not op.get("summary") or not op.get("description"):
                missing.append(f"{name}: summary/description")
            ok = {k: v for k, v in op["responses"].items() if k.startswith("2") and k != "204"}
            contents = [c for r in ok.values() for c in r.get("content", {}).values()]
            if ok and not any("example" in c or "examples" in c for c in contents):
                missing.append(f"{name}: response example")
    assert missing == []

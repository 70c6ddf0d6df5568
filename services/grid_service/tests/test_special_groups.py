"""Special-group tags are visible and changeable only to accounts granted the tag."""

from __future__ import annotations

from typing import Any

import httpx
from basicinfo_helpers import GRID1, headers, make_resident, setup_grid, staff_account

from shared.testing import TestKeys

CORRECTION = {
    "attention_level": "key",
    "helper_name": "王芳",
    "follow_up_interval_days": 30,
    "details": {"correction_kind": "probation", "term_starts_on": "2026-01-01"},
}


async def test_a_tag_is_invisible_to_a_role_without_it(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    officer_id = await staff_account(client, admin(), "jiaozheng", "grid_worker")
    other_id = await staff_account(client, admin(), "putong", "grid_leader")
    officer = headers(test_keys, sub=officer_id, roles=["grid_worker"], areas=[GRID1])
    other = headers(test_keys, sub=other_id, roles=["grid_leader"], areas=[GRID1])
    resident = await make_resident(client, officer, s["grid"])
    url = f"/api/v1/residents/{resident['id']}/special-groups/community_correction"

    before = await client.put(url, headers=officer, json=CORRECTION)
    assert before.status_code == 403
    assert before.json()["code"] == "special_group_not_granted"
    granted = await client.post(
        "/api/v1/privacy/special-group-grants",
        headers=admin(),
        json={"account_id": officer_id, "tag": "community_correction", "reason": "社区矫正专干"},
    )
    assert granted.status_code == 201, granted.text
    tagged = await client.put(url, headers=officer, json=CORRECTION)
    assert tagged.status_code == 200, tagged.text
    assert tagged.json()["details"] == {
        "correction_kind": "probation",
        "term_starts_on": "2026-01-01",
    }

    # the granted account sees it …
    seen = await client.get(f"/api/v1/residents/{resident['id']}", headers=officer)
    assert seen.json()["special_groups"] == ["community_correction"]
    listed = await client.get(
        "/api/v1/special-groups/community_correction/residents", headers=officer
    )
    assert [t["resident_id"] for t in listed.json()["items"]] == [resident["id"]]
    # … another account in the same grid, even a leader, does not, and cannot change it
    unseen = await client.get(f"/api/v1/residents/{resident['id']}", headers=other)
    assert unseen.json()["special_groups"] == []
    tags = await client.get(f"/api/v1/residents/{resident['id']}/special-groups", headers=other)
    assert tags.json() == []
    forbidden_list = await client.get(
        "/api/v1/special-groups/community_correction/residents", headers=other
    )
    assert forbidden_list.status_code == 403
    changed = await client.put(url, headers=other, json={**CORRECTION, "attention_level": "normal"})
    assert changed.status_code == 403
    removed = await client.delete(url, headers=other)
    assert removed.status_code == 403
    # a grant of another tag shows only that tag
    await client.post(
        "/api/v1/privacy/special-group-grants",
        headers=admin(),
        json={"account_id": other_id, "tag": "low_income", "reason": "民政协管"},
    )
    still = await client.get(f"/api/v1/residents/{resident['id']}", headers=other)
    assert still.json()["special_groups"] == []

    # bad follow-up fields name the field
    bad = await client.put(
        url, headers=officer, json={**CORRECTION, "details": {"correction_kind": "holiday"}}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "details.correction_kind"
    unknown_tag = await client.put(
        f"/api/v1/residents/{resident['id']}/special-groups/vip", headers=officer, json=CORRECTION
    )
    assert unknown_tag.status_code == 422

    # withdrawing the grant hides it again; grants and withdrawals are audited
    revoked = await client.delete(
        f"/api/v1/privacy/special-group-grants/{officer_id}/community_correction",
        headers=admin(),
        params={"reason": "岗位调整"},
    )
    assert revoked.status_code == 204
    gone = await client.get(f"/api/v1/residents/{resident['id']}", headers=officer)
    assert gone.json()["special_groups"] == []
    audit = (await client.get("/api/v1/privacy/audit-records", headers=admin())).json()["items"]
    assert [(r["action"], r["fields"]) for r in audit] == [
        ("revoke", ["community_correction"]),
        ("grant", ["low_income"]),
        ("grant", ["community_correction"]),
    ]
    grants = await client.get(
        "/api/v1/privacy/special-group-grants", headers=admin(), params={"account_id": other_id}
    )
    assert [g["tag"] for g in grants.json()] == ["low_income"]

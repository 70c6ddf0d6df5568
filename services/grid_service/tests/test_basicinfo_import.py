"""Spreadsheet import of the sheets grid workers fill: all or nothing, every bad row reported."""

from __future__ import annotations

import io
from typing import Any

import httpx
import openpyxl
import sqlalchemy as sa
from basicinfo_helpers import GRID1, headers, id_number, setup_grid

from shared.testing import TestKeys

WORKER = "00000000-0000-0000-0000-00000000000a"
HEADER = [
    "序号",
    "姓名",
    "身份证号",
    "联系电话",
    "性别",
    "楼栋",
    "单元",
    "室",
    "户号",
    "与户主关系",
    "人口类型",
]


def xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def worker(keys: TestKeys) -> dict[str, str]:
    return headers(keys, sub=WORKER, roles=["grid_worker"], areas=[GRID1])


async def counts(app: Any) -> tuple[int, int]:
    async with app.state.engine.connect() as conn:
        residents = (await conn.execute(sa.text("SELECT count(*) FROM resident"))).scalar_one()
        households = (await conn.execute(sa.text("SELECT count(*) FROM household"))).scalar_one()
    return residents, households


GOOD = [
    [
        1,
        "张伟",
        "11010519491231002X",
        "13812345678",
        "女",
        "3",
        "2",
        "301",
        "H-301",
        "户主",
        "户籍人口",
    ],
    # a phone, a building and a room typed as numbers read as their digits
    [2, "陈强", id_number("11010519500101001"), 13900000001, "男", 3, 2, 301, "H-301", "配偶", ""],
    [
        3,
        "陈小明",
        id_number("11010520150601003"),
        None,
        None,
        "3",
        "2",
        "302",
        "H-302",
        "户主",
        "流动人口",
    ],
]


async def test_a_good_sheet_is_imported_with_its_households(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    response = await client.post(
        "/api/v1/basic-info/imports/residents",
        headers=worker(test_keys),
        params={"area_id": s["grid"]},
        files={"file": ("人口信息采集表.xlsx", xlsx(GOOD), "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "residents",
        "rows": 3,
        "created": 3,
        "households": 1,
        "unmatched_addresses": 0,
    }
    residents = (
        await client.get("/api/v1/residents", headers=worker(test_keys), params={"limit": 10})
    ).json()["items"]
    assert [
        (r["name"], r["gender"], r["migrant_status"], r["relationship_to_head"]) for r in residents
    ] == [
        ("张伟", "female", "registered", "head"),
        ("陈强", "male", "registered", "spouse"),
        ("陈小明", "male", "migrant", "head"),
    ]
    household = (
        await client.get(f"/api/v1/households/{s['household']['id']}", headers=worker(test_keys))
    ).json()  # H-301 existed already: the rows joined it and its head was set
    assert [m["name"] for m in household["members"]] == ["张伟", "陈强"]
    assert household["head_resident_id"] == residents[0]["id"]
    assert await counts(app) == (3, 2)


async def test_a_bad_sheet_imports_nothing_and_names_every_bad_row(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    rows = [
        GOOD[0],
        [2, "李四", "110105194912310021", "13800000002", "", "3", "2", "301", "", "", ""],
        [3, "王五", id_number("11010519800101001"), "12345", "", "3", "2", "301", "", "", ""],
        [4, "赵六", id_number("11010519800101002"), "", "", "9", "1", "101", "", "", ""],
        [5, "", "11010519491231002X", "", "", "3", "2", "301", "", "", "外星人"],
    ]
    response = await client.post(
        "/api/v1/basic-info/imports/residents",
        headers=worker(test_keys),
        params={"area_id": s["grid"]},
        files={"file": ("sheet.xlsx", xlsx(rows), "application/octet-stream")},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "import_rejected"
    # row 5's address 9栋1单元101室 is not in the register: no longer an error (kept as text)
    assert body["detail"] == "5 行中有 3 行有误，全部未导入"
    assert [(e["row"], e["column"]) for e in body["row_errors"]] == [
        (3, "公民身份号码"),
        (4, "联系电话"),
        (6, "姓名"),
        (6, "公民身份号码"),
        (6, "人口类型"),
    ]
    reasons = {(e["row"], e["column"]): e["reason"] for e in body["row_errors"]}
    assert reasons[(3, "公民身份号码")] == "校验码不对（GB 11643），请核对号码"
    assert reasons[(6, "公民身份号码")] == "与第 2 行的身份证号相同"
    english = await client.post(
        "/api/v1/basic-info/imports/residents",
        headers={**worker(test_keys), "Accept-Language": "en"},
        params={"area_id": s["grid"]},
        files={"file": ("sheet.xlsx", xlsx(rows), "application/octet-stream")},
    )
    assert english.json()["detail"] == "3 of 5 rows are invalid; nothing was imported"
    reasons = {(e["row"], e["column"]): e["reason"] for e in english.json()["row_errors"]}
    assert reasons[(3, "公民身份号码")] == "the check digit does not match (GB 11643)"
    assert body["errors"][0]["field"] == "rows.3.公民身份号码"
    assert await counts(app) == (0, 1)  # only the household the setup made


async def test_csv_in_gb18030_and_missing_columns(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    text = "姓名,公民身份号码,楼栋,单元,室\n张伟,11010519491231002X,3,2,302\n"
    response = await client.post(
        "/api/v1/basic-info/imports/residents",
        headers=worker(test_keys),
        params={"area_id": s["grid"]},
        files={"file": ("sheet.csv", text.encode("gb18030"), "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    again = await client.post(
        "/api/v1/basic-info/imports/residents",
        headers=worker(test_keys),
        params={"area_id": s["grid"]},
        files={"file": ("sheet.csv", text.encode(), "text/csv")},
    )
    assert again.status_code == 422
    assert again.json()["row_errors"] == [
        {
            "row": 2,
            "column": "公民身份号码",
            "reason": "已登记过这个身份证号的居民",
        }
    ]
    missing = await client.post(
        "/api/v1/basic-info/imports/residents",
        headers=worker(test_keys),
        params={"area_id": s["grid"]},
        files={"file": ("sheet.csv", "名字,电话\n张三,138\n".encode(), "text/csv")},
    )
    assert missing.status_code == 422
    assert [e["reason"] for e in missing.json()["errors"]] == [
        "缺少列：姓名",
        "缺少列：公民身份号码",
    ]
    damaged = await client.post(
        "/api/v1/basic-info/imports/residents",
        headers=worker(test_keys),
        params={"area_id": s["grid"]},
        files={"file": ("sheet.xlsx", b"PK\x03\x04 not really a zip", "application/octet-stream")},
    )
    assert damaged.status_code == 422
    assert damaged.json()["code"] == "unreadable_spreadsheet"
    assert await counts(app) == (1, 1)


async def test_addresses_import_then_duplicates_refused(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    text = "街路巷门牌,楼栋,单元,室\n文三路90号,5,1,101\n文三路90号,5,1,102\n"
    ok = await client.post(
        "/api/v1/basic-info/imports/addresses",
        headers=worker(test_keys),
        params={"area_id": s["grid"]},
        files={"file": ("addr.csv", text.encode(), "text/csv")},
    )
    assert ok.json() == {
        "kind": "addresses",
        "rows": 2,
        "created": 2,
        "households": 0,
        "unmatched_addresses": 0,
    }
    dup = "街路巷门牌,楼栋,单元,室\n文三路90号,6,1,101\n文三路90号,6,1,101\n文三路90号,3,2,301\n"
    bad = await client.post(
        "/api/v1/basic-info/imports/addresses",
        headers=worker(test_keys),
        params={"area_id": s["grid"]},
        files={"file": ("addr.csv", dup.encode(), "text/csv")},
    )
    assert bad.status_code == 422
    assert [(e["row"], e["reason"]) for e in bad.json()["row_errors"]] == [
        (3, "与第 2 行的地址相同"),
        (4, "本网格已登记这个地址"),
    ]
    listed = await client.get("/api/v1/addresses", headers=worker(test_keys), params={"limit": 50})
    assert len(listed.json()["items"]) == 4  # 2 from the setup + 2 imported, none of the bad file

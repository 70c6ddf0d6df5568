"""Imports that tell the grid worker what is wrong with each cell, in one pass (issue 22):
control characters, gender and birth-date cells, rows without a standard address, and the
export read back in."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import sqlalchemy as sa
from basicinfo_helpers import GRID1, headers, id_number, setup_grid

from shared.testing import TestKeys

WORKER = "00000000-0000-0000-0000-00000000000a"
LEADER = "00000000-0000-0000-0000-00000000000b"
URL = "/api/v1/basic-info/imports/residents"


def worker(keys: TestKeys) -> dict[str, str]:
    return headers(keys, sub=WORKER, roles=["grid_worker"], areas=[GRID1])


def sheet(*rows: str) -> bytes:
    return "\n".join(rows).encode()


async def post(
    client: httpx.AsyncClient, hdrs: dict[str, str], grid: str, data: bytes, url: str = URL
) -> httpx.Response:
    return await client.post(
        url, headers=hdrs, params={"area_id": grid}, files={"file": ("s.csv", data, "text/csv")}
    )


async def resident_count(app: Any) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM resident"))).scalar_one())


async def test_a_nul_in_any_cell_is_a_422_naming_row_and_column(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    residents = sheet(
        "姓名,公民身份号码,楼栋,单元,室,民族",
        f"张伟,{id_number('11010519800101001')},3,2,301,汉",
        f"李娜,{id_number('11010519800101002')},3,2,302,汉\x00族",
    )
    response = await post(client, worker(test_keys), s["grid"], residents)
    assert response.status_code == 422  # today: 500 internal_error
    assert response.json()["row_errors"] == [
        {"row": 3, "column": "民族", "reason": "含有不可见的控制字符（如 NUL），请删除后再导入"}
    ]
    addresses = sheet("街路巷门牌,楼栋,单元,室", "文三路\x0090号,7,1,101")
    response = await post(
        client, worker(test_keys), s["grid"], addresses, url="/api/v1/basic-info/imports/addresses"
    )
    assert response.status_code == 422
    assert response.json()["row_errors"][0]["row"] == 2
    assert response.json()["row_errors"][0]["column"] == "街路巷门牌"
    assert await resident_count(app) == 0


async def test_every_cell_is_checked_in_one_pass_with_messages_that_say_why(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    data = sheet(
        "姓名,公民身份号码,性别,出生日期,联系电话,楼栋,单元,室",
        # 性别=未知 is allowed: the ID number's own gender is taken
        f"张伟,{id_number('11010519800101001')},未知,1980-01-01,,3,2,301",
        # an invalid ID number: the cells after it are still checked
        "李娜,110105198001010099,外星,1980年1月,12345,3,2,302",
        f"王强,{id_number('11010519800101002')},男,1980-01-01,,3,2,302",
    )
    response = await post(client, worker(test_keys), s["grid"], data)
    assert response.status_code == 422
    errors = {(e["row"], e["column"]): e["reason"] for e in response.json()["row_errors"]}
    assert set(errors) == {
        (3, "公民身份号码"),
        (3, "性别"),
        (3, "出生日期"),
        (3, "联系电话"),
        (4, "性别"),  # 王强's ID number encodes a woman (an even 17th digit)
    }
    assert errors[(3, "性别")] == "只能填 男、女、未知 或 未说明"
    assert errors[(3, "出生日期")] == "不是日期（应写作 1990-01-31）"
    assert errors[(4, "性别")] == "与身份证号第 17 位表示的性别（女）不一致"
    assert (2, "性别") not in errors


async def test_rows_without_a_standard_address_keep_their_address_text(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    data = sheet(
        "姓名,公民身份号码,楼栋,单元,室,现住址",
        f"张伟,{id_number('11010519800101001')},3,2,301,",
        f"李娜,{id_number('11010519800101002')},,,,西湖区宝石山下一弄12号",
        f"王强,{id_number('11010519800101003')},9,1,101,",
        f"赵敏,{id_number('11010519800101004')},,,,",
    )
    response = await post(client, worker(test_keys), s["grid"], data)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 4
    assert response.json()["unmatched_addresses"] == 2
    listed = (
        await client.get("/api/v1/residents", headers=worker(test_keys), params={"limit": 10})
    ).json()["items"]
    got = {r["name"]: (r["current_address_id"], r["current_address_text"]) for r in listed}
    assert got["张伟"] == (s["addresses"][0]["id"], None)
    assert got["李娜"] == (None, "西湖区宝石山下一弄12号")
    assert got["王强"] == (None, "9栋1单元101室")
    assert got["赵敏"] == (None, None)


async def test_the_export_can_be_imported_again(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    data = sheet(
        "姓名,公民身份号码,联系电话,楼栋,单元,室,户号,与户主关系",
        f"张伟,{id_number('11010519800101001')},13812345678,3,2,301,H-301,户主",
        f"李娜,{id_number('11010519800101002')},,,,,,",
    )
    assert (await post(client, worker(test_keys), s["grid"], data)).status_code == 200
    leader = headers(test_keys, sub=LEADER, roles=["grid_leader"], areas=[GRID1])
    full = await client.get(
        "/api/v1/residents/export",
        headers=leader,
        params={"reason": "迁移到新系统", "reveal": "true"},
    )
    assert full.status_code == 200
    text = full.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][-4:] == ["楼栋", "单元", "室", "现住址"]
    # read back: every cell passes; only the residents themselves are already registered
    again = await post(client, worker(test_keys), s["grid"], full.content)
    assert again.status_code == 422
    assert {(e["column"], e["reason"]) for e in again.json()["row_errors"]} == {
        ("公民身份号码", "已登记过这个身份证号的居民")
    }
    assert len(again.json()["row_errors"]) == 2
    masked = await client.get(
        "/api/v1/residents/export", headers=leader, params={"reason": "季度报表"}
    )
    refused = await post(client, worker(test_keys), s["grid"], masked.content)
    assert {e["reason"] for e in refused.json()["row_errors"]} == {
        "身份证号已脱敏（含 *）：请导入完整号码（导出时选择显示完整号码）",
        "联系电话已脱敏（含 *）：请导入完整号码",
    }

"""The seed category catalogue (事项目录) covering the domains of DOMAIN.md, loaded by the demo.

Routing follows GB/T 30428: events (事件) go first by locality (属地), components (部件: road
surface, manholes, street lights) first by owner (属主) department.

Public disclosure (公开范围, docs/security.md "Open311 disclosure policy"): what the public
Open311 feed may show. ``none`` for the sensitive kinds — disputes between persons (01), public
order and crime tips (03: a tip names people and endangers the tipster), petitions (04), mass
incidents (0903), welfare and special groups (10) and personal proxy services (11); ``public``
for things in the street anyone can see (refuse, posters, dust, roads, manholes, lights);
``summary`` (point rounded, no address or photo) for the rest, which often point at one
household or one person's shop or car.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.categories import repository, service
from case_service.categories.schemas import CategoryCreate

_LEVEL = {
    "code": "level",
    "name": "严重程度",
    "datatype": "singlevaluelist",
    "required": True,
    "order": 1,
    "values": [
        {"key": "minor", "name": "一般"},
        {"key": "serious", "name": "较重"},
        {"key": "severe", "name": "严重"},
    ],
}
_PEOPLE = {"code": "people_involved", "name": "涉及人数", "datatype": "number", "order": 2}


def _sub(
    code: str,
    name: str,
    kind: str,
    *,
    owner: str | None = None,
    priority: str = "normal",
    handling: str = "promised",
    attributes: list[dict[str, Any]] | None = None,
    radius: int = 50,
    disclosure: str = "summary",
) -> dict[str, Any]:
    return {
        "code": code,
        "parent_code": code[:2],
        "name": name,
        "kind": kind,
        "routing": "owner" if owner else "locality",
        "owner_department_id": owner,
        "default_priority": priority,
        "handling_class": handling,
        "duplicate_radius_m": radius,
        "attributes": attributes or [],
        "public_disclosure": disclosure,
    }


#: (code, name, kind, public disclosure): a 大类's level caps its 小类
TOP_LEVEL: list[tuple[str, str, str, str]] = [
    ("01", "矛盾纠纷", "help", "none"),
    ("02", "安全隐患", "report", "summary"),
    ("03", "治安乱点", "report", "none"),
    ("04", "信访诉求", "complaint", "none"),
    ("05", "市容环境", "report", "public"),
    ("06", "街面秩序", "report", "summary"),
    ("07", "施工管理", "complaint", "public"),
    ("08", "公用设施", "report", "public"),
    ("09", "突发事件", "report", "summary"),
    ("10", "民生服务", "help", "none"),
    ("11", "代办服务", "help", "none"),
    ("12", "咨询建议", "consultation", "summary"),
]

SUBCATEGORIES: list[dict[str, Any]] = [
    _sub("0101", "邻里纠纷", "help", attributes=[_PEOPLE], disclosure="none"),
    _sub("0102", "家庭纠纷", "help", attributes=[_PEOPLE], disclosure="none"),
    _sub(
        "0103", "劳动纠纷", "complaint", owner="dept-hrss", attributes=[_PEOPLE], disclosure="none"
    ),
    _sub("0104", "土地纠纷", "complaint", owner="dept-natural-resources", disclosure="none"),
    _sub(
        "0105",
        "拖欠工资",
        "complaint",
        owner="dept-hrss",
        priority="high",
        attributes=[
            _PEOPLE,
            {"code": "amount_yuan", "name": "拖欠金额(元)", "datatype": "number", "order": 3},
        ],
        disclosure="none",
    ),
    _sub("0201", "消防隐患", "report", priority="high", owner="dept-fire", attributes=[_LEVEL]),
    _sub("0202", "燃气隐患", "report", priority="urgent", handling="urgent", owner="dept-gas"),
    _sub("0203", "危房隐患", "report", priority="high", owner="dept-housing", attributes=[_LEVEL]),
    _sub("0204", "电动车违规充电", "report", attributes=[_LEVEL]),
    _sub("0301", "治安乱点", "report", owner="dept-police", disclosure="none"),
    _sub(
        "0302",
        "违法犯罪线索",
        "report",
        priority="high",
        owner="dept-police",
        radius=1,
        disclosure="none",
    ),
    _sub("0401", "信访诉求", "complaint", handling="forwarded", radius=1, disclosure="none"),
    _sub("0501", "暴露垃圾", "report", owner="dept-urban", disclosure="public"),
    _sub("0502", "乱张贴乱涂写", "report", disclosure="public"),
    _sub("0601", "流动摊点", "report", handling="immediate"),
    _sub("0602", "占道经营", "report", owner="dept-urban"),
    _sub("0603", "乱停车", "report", owner="dept-traffic"),
    _sub(
        "0701",
        "夜间施工扰民",
        "complaint",
        owner="dept-urban",
        attributes=[{"code": "noticed_at", "name": "发现时间", "datatype": "datetime", "order": 1}],
    ),
    _sub("0702", "工地扬尘", "complaint", owner="dept-eco", disclosure="public"),
    _sub(
        "0801",
        "路面坑槽",
        "report",
        owner="dept-roads",
        attributes=[
            {"code": "depth_cm", "name": "深度(厘米)", "datatype": "number", "order": 1},
            {
                "code": "lane",
                "name": "位置",
                "datatype": "multivaluelist",
                "order": 2,
                "values": [
                    {"key": "carriageway", "name": "机动车道"},
                    {"key": "bike_lane", "name": "非机动车道"},
                    {"key": "sidewalk", "name": "人行道"},
                ],
            },
        ],
        disclosure="public",
    ),
    _sub(
        "0802",
        "井盖缺失破损",
        "report",
        priority="high",
        owner="dept-roads",
        radius=20,
        disclosure="public",
    ),
    _sub("0803", "路灯损坏", "report", owner="dept-lighting", disclosure="public"),
    _sub("0901", "火灾", "report", priority="urgent", handling="urgent", radius=200),
    _sub("0902", "自然灾害", "report", priority="urgent", handling="urgent", radius=500),
    _sub(
        "0903",
        "群体性事件",
        "report",
        priority="urgent",
        handling="urgent",
        radius=300,
        attributes=[{**_PEOPLE, "required": True}],
        disclosure="none",
    ),
    _sub("1001", "低保救助", "help", owner="dept-civil-affairs", radius=1, disclosure="none"),
    _sub("1002", "就业帮扶", "help", owner="dept-hrss", radius=1, disclosure="none"),
    _sub("1003", "养老服务", "help", owner="dept-civil-affairs", radius=1, disclosure="none"),
    _sub("1101", "补贴代办", "help", handling="immediate", radius=1, disclosure="none"),
    _sub("1102", "证件代办", "help", handling="immediate", radius=1, disclosure="none"),
    _sub("1201", "政策咨询", "consultation", handling="immediate", radius=1),
    _sub("1202", "意见建议", "suggestion", radius=1),
]


async def load_catalogue(session: AsyncSession) -> int:
    """Create every seed category that does not exist yet; return how many were created."""
    created = 0
    for code, name, kind, disclosure in TOP_LEVEL:
        if await repository.get_current(session, code) is None:
            await service.create_category(
                session,
                data=CategoryCreate.model_validate(
                    {"code": code, "name": name, "kind": kind, "public_disclosure": disclosure}
                ),
                actor_id="demo",
            )
            created += 1
    for entry in SUBCATEGORIES:
        if await repository.get_current(session, entry["code"]) is None:
            await service.create_category(
                session, data=CategoryCreate.model_validate(entry), actor_id="demo"
            )
            created += 1
    return created

"""The demo dataset of grid_service (``make run``; never in production). Idempotent.

A plausible district of Hangzhou: 杭州市 (330100) → 西湖区 (330106) → 3 streets → 12
communities → 60 grids, drawn as a regular subdivision of rectangles (so they are valid and
never overlap), such that WGS84 (30.2741, 120.1551) falls in a grid. Members with backups,
departments with categories, one account per role (password ``demo12345``) and platform clients.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.accounts import passwords
from grid_service.accounts import repository as accounts_repository
from grid_service.accounts.models import Account, AccountKind
from grid_service.accounts.passwords import hash_secret
from grid_service.accounts.schemas import PlatformClientCreate
from grid_service.accounts.service import create_client
from grid_service.areas import repository as areas_repository
from grid_service.areas.geometry import measure, parse_boundary
from grid_service.areas.models import MEMBERS_VERSION_ID, Area
from grid_service.config import Settings
from grid_service.departments import repository as departments_repository
from grid_service.departments.models import Department
from grid_service.keys.service import ensure_active_key
from grid_service.members.models import Member, Post
from shared.settings import BaseServiceSettings

DEMO_PASSWORD = "demo12345"  # noqa: S105 - the published demo password (README)
DEMO_POINT = (30.2741, 120.1551)  # (lat, lng) WGS84, inside a demo grid

CITY = ("330100", "杭州市", (119.90, 30.10, 120.40, 30.45))
DISTRICT = ("330106", "西湖区", (120.10, 30.24, 120.19, 30.30))
STREETS = [  # (code, name, communities west→east are stacked south→north)
    ("330106001", "西溪街道", ["古荡社区", "庆丰社区", "松木场社区", "西溪河下社区"]),
    ("330106002", "北山街道", ["宝石社区", "黄龙社区", "保俶塔社区", "葛岭社区"]),
    ("330106003", "灵隐街道", ["玉泉社区", "金祝社区", "茶叶社区", "白乐桥社区"]),
]
GRIDS_PER_COMMUNITY = 5
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "建国",
    "芳",
    "伟",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "艳",
    "勇",
    "杰",
    "娟",
]
# (code, name, the case categories it owns, phone). Codes are the department ids every
# service uses (tokens' `depts`, case_service's category owners).
DEPARTMENTS = [
    ("dept-urban", "西湖区城市管理局", ["0501", "0602", "0701"], "057112319"),
    ("dept-roads", "西湖区市政设施管理中心", ["0801", "0802"], "057187000001"),
    ("dept-lighting", "西湖区城市照明管理所", ["0803"], "057187000005"),
    ("dept-housing", "西湖区住房和城乡建设局", ["0203"], "057187000006"),
    ("dept-police", "杭州市公安局西湖区分局", ["0301", "0302"], "057187000002"),
    ("dept-traffic", "西湖交警大队", ["0603"], "057187000007"),
    ("dept-fire", "西湖区消防救援大队", ["0201"], "057187000008"),
    ("dept-gas", "杭州天然气西湖服务站", ["0202"], "057187000009"),
    ("dept-eco", "杭州市生态环境局西湖分局", ["0702"], "057187000010"),
    ("dept-civil-affairs", "西湖区民政局", ["1001", "1003"], "057187000003"),
    ("dept-hrss", "西湖区人力资源和社会保障局", ["0103", "0105", "1002"], "057187000004"),
    ("dept-natural-resources", "西湖区自然资源规划分局", ["0104"], "057187000011"),
]
# (client_id, name, scopes, secret, api_key)
PLATFORM_CLIENTS = [
    (
        "open311-demo",
        "Open311 demo platform (12345 hotline)",
        # a partner platform of the centre: it may read the internal Open311 extensions
        ["open311", "open311:extensions"],
        "demo-open311-secret",
        "demo-open311-key",
    ),
    ("notify_service", "notify_service", ["recipients:read"], "notify-dev-secret", None),
    (
        "case_service",
        "case_service",
        [
            "addresses:match",
            "api_keys:verify",
            "areas:snapshot",
            "departments:read",
            "events:write",
            "notifications:write",
            "responsible:read",
        ],
        "case-dev-secret",
        None,
    ),
]


def rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}


def _area(
    code: str,
    name: str,
    level: str,
    parent: Area | None,
    box: tuple[float, ...],
    households: int | None = None,
) -> Area:
    boundary = rectangle(*box)
    measured = measure(parse_boundary(boundary))
    return Area(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"gridgov:area:{code}"),
        code=code,
        name=name,
        level=level,
        parent_id=parent.id if parent else None,
        path=f"{parent.path}.{code}" if parent else code,
        depth=parent.depth + 1 if parent else 0,
        boundary=boundary,
        area_m2=measured.area_m2,
        centroid_lat=measured.centroid_lat,
        centroid_lng=measured.centroid_lng,
        household_count=households,
    )


def build_tree() -> list[Area]:
    """The demo areas, parents before children."""
    city = _area(CITY[0], CITY[1], "city", None, CITY[2])
    district = _area(DISTRICT[0], DISTRICT[1], "district", city, DISTRICT[2])
    out = [city, district]
    west, south, east, north = DISTRICT[2]
    street_w = (east - west) / len(STREETS)
    for s, (s_code, s_name, communities) in enumerate(STREETS):
        sw, se = west + s * street_w, west + (s + 1) * street_w
        street = _area(s_code, s_name, "street", district, (sw, south, se, north))
        out.append(street)
        row_h = (north - south) / len(communities)
        for c, c_name in enumerate(communities):
            cs, cn = south + c * row_h, south + (c + 1) * row_h
            community = _area(f"{s_code}{c + 1:03d}", c_name, "community", street, (sw, cs, se, cn))
            out.append(community)
            grid_w = (se - sw) / GRIDS_PER_COMMUNITY
            for g in range(GRIDS_PER_COMMUNITY):
                households = 520 + (s * 97 + c * 53 + g * 71) % 460
                out.append(
                    _area(
                        f"{community.code}{g + 1:03d}",
                        f"{c_name.removesuffix('社区')}第{g + 1}网格",
                        "grid",
                        community,
                        (sw + g * grid_w, cs, sw + (g + 1) * grid_w, cn),
                        households,
                    )
                )
    return out


def _person(n: int) -> str:
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 7) % len(GIVEN)]


def build_members(areas: list[Area]) -> list[Member]:
    out: list[Member] = []
    n = 0

    def add(area: Area, post: Post, duties: str, backup_for: Member | None = None) -> Member:
        nonlocal n
        n += 1
        member = Member(
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"gridgov:member:{area.code}:{post}:{n}"),
            area_id=area.id,
            area_path=area.path,
            post=post.value,
            name=_person(n),
            phone=f"138{n:08d}",
            duties=duties,
            public_consent=n % 3 != 0,
            backup_for_id=backup_for.id if backup_for else None,
        )
        out.append(member)
        return member

    for area in areas:
        if area.level == "community":
            add(area, Post.grid_instructor, "指导网格工作、政策宣传")
            add(area, Post.mediator, "矛盾纠纷调解")
        elif area.level == "grid":
            leader = add(area, Post.grid_leader, "统筹网格工作、组织巡查")
            add(area, Post.grid_leader, "网格长B岗", backup_for=leader)
            worker = add(area, Post.full_time_worker, "每日巡查、入户走访、信息采集、事件上报")
            add(area, Post.full_time_worker, "专职网格员B岗", backup_for=worker)
            add(area, Post.building_head, "楼栋信息报送")
    return out


async def load_demo(session: AsyncSession, settings: BaseServiceSettings) -> None:
    assert isinstance(settings, Settings)
    passwords.configure(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib)
    await ensure_active_key(session, secret=settings.signing_key_secret)
    if await areas_repository.get_by_code(session, CITY[0]) is not None:
        await load_addresses(session, build_tree())  # a demo loaded before addresses existed
        return  # already loaded
    areas = build_tree()
    for area in areas:
        session.add(area)
        await session.flush()
    await areas_repository.bump_version(session)
    by_code = {a.code: a for a in areas}
    members = build_members(areas)
    session.add_all(members)

    departments: dict[str, Department] = {}
    for code, name, categories, phone in DEPARTMENTS:
        existing = await departments_repository.get_by_code(session, code)
        if existing is not None:
            departments[code] = existing
        else:
            dept = Department(
                code=code,
                name=name,
                categories=categories,
                area_paths=[by_code[DISTRICT[0]].path],
                phone=phone,
            )
            session.add(dept)
            departments[code] = dept
    await session.flush()

    home = next(
        a for a in areas if a.level == "grid" and parse_boundary(a.boundary).contains(_point())
    )
    district_path = by_code[DISTRICT[0]].path
    password_hash = await hash_secret(DEMO_PASSWORD)
    accounts = [
        ("admin", "系统管理员", ["admin"], [CITY[0]], []),
        ("dispatcher", "综治中心调度员", ["dispatcher"], [district_path], []),
        ("leader", "网格长 陈建国", ["grid_leader"], [home.path], []),
        ("worker", "网格员 王芳", ["grid_worker"], [home.path], []),
        (
            "handler",
            "市政处置员 李强",
            ["department_handler"],
            [district_path],
            [str(departments["dept-roads"].id)],
        ),
        ("supervisor", "督查员 赵敏", ["supervisor"], [district_path], []),
    ]
    created: dict[str, Account] = {}
    for i, (username, name, roles, paths, depts) in enumerate(accounts):
        if await accounts_repository.by_username(session, username) is not None:
            continue
        account = Account(
            kind=AccountKind.staff.value,
            username=username,
            name=name,
            password_hash=password_hash,
            roles=roles,
            area_paths=paths,
            department_ids=depts,
            home_area_path=paths[0],
            phone=f"1390000{i + 1:04d}",
            channels=["inbox", "sms"],
        )
        session.add(account)
        created[username] = account
    if await accounts_repository.by_username(session, "resident") is None:
        session.add(
            Account(
                kind=AccountKind.resident.value,
                username="resident",
                name="居民 李娜",
                password_hash=password_hash,
                roles=["resident"],
                home_area_path=home.path,
                phone="13900000007",
                wechat_mp_openid="demo-openid-resident",
                channels=["wechat_mp", "sms"],
            )
        )
    await session.flush()
    # the demo worker and leader hold the posts of the demo grid
    for m in members:
        if m.area_id == home.id and m.backup_for_id is None:
            if m.post == Post.full_time_worker and "worker" in created:
                m.account_id, m.name = created["worker"].id, "王芳"
            if m.post == Post.grid_leader and "leader" in created:
                m.account_id, m.name = created["leader"].id, "陈建国"
            session.add(m)
    await areas_repository.bump_version(session, MEMBERS_VERSION_ID)

    for client_id, name, scopes, secret, api_key in PLATFORM_CLIENTS:
        if await accounts_repository.client(session, client_id) is None:
            await create_client(
                session,
                body=PlatformClientCreate(
                    id=client_id, name=name, scopes=scopes, with_api_key=api_key is not None
                ),
                secret=secret,
                api_key=api_key,
            )
    await session.flush()
    await load_addresses(session, areas)


#: standard addresses (标准地址) of the demo grid (the one covering DEMO_POINT) and of its
#: eastern neighbour: (grid offset from the demo grid, street address, building, unit, room)
ADDRESSES = [
    (0, "宝石山下一弄12号", "1", "", ""),
    (0, "宝石山下一弄14号", "1", "", ""),
    (0, "保俶路100号", "3", "2", "501"),
    (0, "保俶路100号", "3", "2", "502"),
    (1, "保俶路102号", "1", "", ""),
]


async def load_addresses(session: AsyncSession, areas: list[Area]) -> None:
    """The demo standard addresses, once (fixed ids)."""
    from grid_service.basicinfo.models import StandardAddress

    grids = [a for a in areas if a.level == "grid"]
    home = next(i for i, a in enumerate(grids) if parse_boundary(a.boundary).contains(_point()))
    stored = await areas_repository.get_by_codes(session, [g.code for g in grids])
    for offset, street, building, unit, room in ADDRESSES:
        grid = stored[grids[min(home + offset, len(grids) - 1)].code]
        address_id = uuid.uuid5(
            uuid.NAMESPACE_URL, f"gridgov:address:{grid.code}:{street}:{building}:{unit}:{room}"
        )
        if await session.get(StandardAddress, address_id) is None:
            session.add(
                StandardAddress(
                    id=address_id,
                    area_id=grid.id,
                    area_path=grid.path,
                    street_address=street,
                    building_no=building,
                    unit_no=unit,
                    room_no=room,
                )
            )
    await session.flush()


def _point() -> Any:
    from shapely.geometry import Point

    return Point(DEMO_POINT[1], DEMO_POINT[0])

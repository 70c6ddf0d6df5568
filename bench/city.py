"""A generated city for the benchmarks: about 10 million people, deterministic from a seed.

Shape (``Shape.full()``): 16 districts, ~300 streets, 3,000 communities, 30,000 grids whose
boundaries are valid, non-overlapping quadrilaterals that tile their community exactly (interior
lattice points jittered, so not every grid is a rectangle); ~3,000,000 households (about 100 a
grid, more in the dense central districts); staff accounts and posts (a full-time grid worker per
grid, a grid leader per community, dispatchers per street and district, a supervisor per
district) and ~200 functional departments (12 per district plus city-wide ones).

Cases (``iter_cases``) follow 12345 volumes: ``per_day`` new cases a day (default 60,000), so a
million cases are the last ~17 days. Report times follow the day (quiet at night, peaks at 10:00
and 15:00, weekends lighter); places follow where people live plus a few hot spots; categories
follow a Zipf-like popularity over the real catalogue (city appearance and street order first);
statuses follow age (today's cases open, a week-old case nearly always closed); handlers are the
grid's worker and the departments that own the category in that district.

Everything is loaded with COPY (asyncpg binary copy) into migrated databases:
``load_grid`` (area, area_tree_version, department, account, member, household) and
``load_cases`` (the case_service catalogue via its demo loader, then case). Identical seed and
``now`` give identical rows.

    uv run python bench/city.py [--quick] [--cases 1000000] [--seed 7] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import math
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/city.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

CITY_CODE = "330100"
CITY_NAME = "样例市"
WEST, SOUTH, EAST, NORTH = 119.70, 29.95, 120.50, 30.55  # about 77 km × 67 km
DISTRICT_COLS, DISTRICT_ROWS = 4, 4
#: Relative population of the 16 districts (dense centre, lighter edges).
DISTRICT_WEIGHTS = [0.7, 1.0, 1.0, 0.7, 1.0, 1.6, 1.6, 1.0, 1.0, 1.6, 1.6, 1.0, 0.7, 1.0, 1.0, 0.7]
GRID_ROWS_PER_COMMUNITY = 2  # × grids_per_community / 2 columns

#: Department kinds per district: (suffix, name, category-code prefixes it owns).
DEPARTMENT_KINDS = [
    ("urban", "城市管理局", ["05", "06"]),
    ("roads", "市政设施管理中心", ["08"]),
    ("housing", "住房和城乡建设局", ["02"]),
    ("police", "公安分局", ["03"]),
    ("traffic", "交警大队", []),
    ("fire", "消防救援大队", []),
    ("eco", "生态环境分局", ["07"]),
    ("civil", "民政局", ["10"]),
    ("hrss", "人力资源和社会保障局", ["01"]),
    ("market", "市场监督管理局", ["04"]),
    ("health", "卫生健康局", ["09"]),
    ("letters", "信访局", ["11", "12"]),
]
CITY_DEPARTMENTS = [
    ("city-water", "市水务集团", ["08"]),
    ("city-power", "国网市供电公司", ["08"]),
    ("city-gas", "市燃气集团", ["02"]),
    ("city-transport", "市交通运输局", ["06"]),
    ("city-education", "市教育局", ["10"]),
]
#: Category popularity: code prefixes in the order 12345 centres see them most.
PREFIX_ORDER = ["05", "06", "08", "02", "07", "01", "03", "10", "04", "09", "11", "12"]

STATUS_BY_AGE: list[tuple[float, list[tuple[str, int]]]] = [  # (age up to, hours) → weights
    (
        2,
        [("reported", 45), ("accepted", 25), ("dispatched", 20), ("in_progress", 8), ("closed", 2)],
    ),
    (
        24,
        [
            ("reported", 6),
            ("accepted", 8),
            ("dispatched", 20),
            ("in_progress", 36),
            ("resolved", 12),
            ("closed", 12),
            ("returned", 2),
            ("escalated", 2),
            ("rejected", 2),
        ],
    ),
    (
        72,
        [
            ("dispatched", 5),
            ("in_progress", 25),
            ("resolved", 20),
            ("closed", 40),
            ("returned", 1),
            ("escalated", 2),
            ("suspended", 1),
            ("rejected", 3),
            ("voided", 1),
            ("merged", 2),
        ],
    ),
    (
        math.inf,
        [
            ("in_progress", 4),
            ("resolved", 3),
            ("closed", 82),
            ("escalated", 1),
            ("suspended", 1),
            ("reopened", 1),
            ("rejected", 4),
            ("voided", 1),
            ("merged", 3),
        ],
    ),
]
OPEN = {"reported", "accepted", "dispatched", "in_progress", "returned", "escalated", "suspended"}
UNHANDLED = {"reported", "accepted", "rejected", "voided", "merged"}
CHANNELS = [
    ("mini_program", 38),
    ("hotline", 30),
    ("patrol", 18),
    ("app", 8),
    ("web", 3),
    ("video", 2),
    ("platform", 1),
]
PRIORITIES = [("normal", 80), ("high", 15), ("urgent", 3), ("low", 2)]
LIMIT_DAYS = {"urgent": 1, "high": 3, "normal": 7, "low": 15}
#: Share of a day's cases reported in each hour (Asia/Shanghai).
HOUR_WEIGHTS = [
    1,
    0.6,
    0.4,
    0.3,
    0.3,
    0.5,
    1.5,
    3,
    6,
    9,
    10,
    9,
    6,
    6,
    8,
    9,
    9,
    8,
    6,
    5,
    4,
    3,
    2,
    1.5,
]
PLACES = ["小区门口", "学院路口", "菜市场旁", "公交站台", "老旧楼道", "河道边", "学校附近"]
PLACES += ["地铁口", "商业街", "停车场", "公园里", "桥下", "十字路口", "农贸市场", "医院门口"]
PROBLEMS = ["井盖缺失", "路灯不亮", "流动摊点占道", "夜间施工扰民", "垃圾暴露", "电动车楼道充电"]
PROBLEMS += ["邻里噪音纠纷", "拖欠工资", "路面坑槽", "乱停车", "油烟扰民", "墙面乱张贴"]
PROBLEMS += ["树枝断裂", "消防通道堵塞", "积水严重", "共享单车乱停", "水管爆裂", "广告牌松动"]
TAILS = ["，请尽快处理", "，已经好几天了", "，存在安全隐患", "，影响出行", "，群众反映强烈", ""]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN = ["建国", "芳", "伟", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "艳", "勇", "杰"]
SHANGHAI_OFFSET = timedelta(hours=8)


@dataclass(frozen=True)
class Shape:
    """How big the city is. ``full()`` is the issue's city; ``quick()`` keeps the area tree
    (locate needs its 30,000 grids) and thins out the households."""

    districts: int = 16
    streets: int = 300
    communities_per_street: int = 10
    grids_per_community: int = 10
    households_per_grid: int = 100

    @classmethod
    def full(cls) -> Shape:
        return cls()

    @classmethod
    def quick(cls) -> Shape:
        return cls(households_per_grid=10)

    @classmethod
    def tiny(cls) -> Shape:
        return cls(
            districts=2,
            streets=4,
            communities_per_street=2,
            grids_per_community=4,
            households_per_grid=3,
        )


@dataclass
class Area:
    id: uuid.UUID
    code: str
    name: str
    level: str
    parent_id: uuid.UUID | None
    path: str
    depth: int
    ring: list[tuple[float, float]]  # (lng, lat), closed
    household_count: int | None = None
    district: int = 0  # index of its district (0 for the city)

    @property
    def boundary(self) -> dict[str, Any]:
        return {"type": "Polygon", "coordinates": [[list(p) for p in self.ring]]}


@dataclass
class City:
    seed: int
    shape: Shape
    areas: list[Area]
    departments: list[dict[str, Any]]
    staff: list[dict[str, Any]]  # accounts (and their posts)
    grid_worker: dict[str, str] = field(default_factory=dict)  # grid path → account id

    def level(self, level: str) -> list[Area]:
        return [a for a in self.areas if a.level == level]

    @property
    def grids(self) -> list[Area]:
        return self.level("grid")

    def paths(self, level: str) -> list[str]:
        return [a.path for a in self.areas if a.level == level]

    def department_codes(self) -> list[str]:
        return [d["code"] for d in self.departments]

    def extent(self) -> tuple[float, float, float, float]:
        return WEST, SOUTH, EAST, NORTH


def new_uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` shared out by ``weights`` (largest remainders), each at least 1."""
    raw = [total * w / sum(weights) for w in weights]
    out = [max(1, int(r)) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - int(raw[i]), reverse=True):
        if sum(out) >= total:
            break
        out[i] += 1
    return out


def rect(w: float, s: float, e: float, n: float) -> list[tuple[float, float]]:
    return [(w, s), (e, s), (e, n), (w, n), (w, s)]


def lattice_quads(
    box: tuple[float, float, float, float], cols: int, rows: int, rng: random.Random
) -> list[list[tuple[float, float]]]:
    """``cols`` × ``rows`` quadrilaterals tiling ``box``; interior lattice points are moved by up
    to 20 % of a cell, so every quadrilateral stays convex and valid and neighbours share edges."""
    w, s, e, n = box
    dx, dy = (e - w) / cols, (n - s) / rows
    pts: dict[tuple[int, int], tuple[float, float]] = {}
    for i in range(cols + 1):
        for j in range(rows + 1):
            x, y = w + i * dx, s + j * dy
            if 0 < i < cols:
                x += rng.uniform(-0.2, 0.2) * dx
            if 0 < j < rows:
                y += rng.uniform(-0.2, 0.2) * dy
            pts[i, j] = (round(x, 7), round(y, 7))
    return [
        [pts[i, j], pts[i + 1, j], pts[i + 1, j + 1], pts[i, j + 1], pts[i, j]]
        for j in range(rows)
        for i in range(cols)
    ]


def generate(seed: int = 7, shape: Shape | None = None) -> City:
    """The area tree, departments and staff (households and cases are streamed separately)."""
    shape = shape or Shape.full()
    rng = random.Random(seed)
    areas: list[Area] = []
    city = Area(
        new_uuid(rng),
        CITY_CODE,
        CITY_NAME,
        "city",
        None,
        CITY_CODE,
        0,
        rect(WEST, SOUTH, EAST, NORTH),
    )
    areas.append(city)
    weights = [DISTRICT_WEIGHTS[d % len(DISTRICT_WEIGHTS)] for d in range(shape.districts)]
    streets_per = split(shape.streets, weights)
    cols = min(DISTRICT_COLS, shape.districts)
    rows = math.ceil(shape.districts / cols)
    dw, dh = (EAST - WEST) / cols, (NORTH - SOUTH) / rows
    gcols = max(1, shape.grids_per_community // GRID_ROWS_PER_COMMUNITY)
    grows = math.ceil(shape.grids_per_community / gcols)
    for d in range(shape.districts):
        dcode = f"3301{d + 1:02d}"
        dw0, ds0 = WEST + (d % cols) * dw, SOUTH + (d // cols) * dh
        district = Area(
            new_uuid(rng),
            dcode,
            f"第{d + 1}区",
            "district",
            city.id,
            f"{CITY_CODE}.{dcode}",
            1,
            rect(dw0, ds0, dw0 + dw, ds0 + dh),
            None,
            d,
        )
        areas.append(district)
        sw_ = dw / streets_per[d]
        for s in range(streets_per[d]):
            scode = f"{dcode}{s + 1:03d}"
            sw, se = dw0 + s * sw_, dw0 + (s + 1) * sw_
            street = Area(
                new_uuid(rng),
                scode,
                f"第{d + 1}区{s + 1}街道",
                "street",
                district.id,
                f"{district.path}.{scode}",
                2,
                rect(sw, ds0, se, ds0 + dh),
                None,
                d,
            )
            areas.append(street)
            ch = dh / shape.communities_per_street
            for c in range(shape.communities_per_street):
                ccode = f"{scode}{c + 1:03d}"
                cs, cn = ds0 + c * ch, ds0 + (c + 1) * ch
                community = Area(
                    new_uuid(rng),
                    ccode,
                    f"{street.name}{c + 1}社区",
                    "community",
                    street.id,
                    f"{street.path}.{ccode}",
                    3,
                    rect(sw, cs, se, cn),
                    None,
                    d,
                )
                areas.append(community)
                quads = lattice_quads((sw, cs, se, cn), gcols, grows, rng)
                for g, ring in enumerate(quads[: shape.grids_per_community]):
                    gcode = f"{ccode}{g + 1:03d}"
                    households = max(
                        1,
                        round(
                            shape.households_per_grid
                            * weights[d]
                            * rng.uniform(0.6, 1.4)
                            / (sum(w * w for w in weights) / sum(weights))
                        ),
                    )
                    areas.append(
                        Area(
                            new_uuid(rng),
                            gcode,
                            f"{community.name}第{g + 1}网格",
                            "grid",
                            community.id,
                            f"{community.path}.{gcode}",
                            4,
                            ring,
                            households,
                            d,
                        )
                    )
                community.household_count = sum(
                    a.household_count or 0
                    for a in areas[-len(quads[: shape.grids_per_community]) :]
                )
    departments: list[dict[str, Any]] = []
    for district in (a for a in areas if a.level == "district"):
        for suffix, name, prefixes in DEPARTMENT_KINDS:
            departments.append(
                {
                    "id": new_uuid(rng),
                    "code": f"dept-{district.code}-{suffix}",
                    "name": f"{district.name}{name}",
                    "prefixes": prefixes,
                    "area_paths": [district.path],
                }
            )
    for code, name, prefixes in CITY_DEPARTMENTS:
        departments.append(
            {
                "id": new_uuid(rng),
                "code": f"dept-{code}",
                "name": name,
                "prefixes": prefixes,
                "area_paths": [CITY_CODE],
            }
        )
    staff: list[dict[str, Any]] = []
    grid_worker: dict[str, str] = {}

    def account(username: str, roles: list[str], area: Area, post: str | None) -> dict[str, Any]:
        row = {
            "id": new_uuid(rng),
            "username": username,
            "name": person(rng),
            "roles": roles,
            "area_paths": [area.path],
            "home_area_path": area.path,
            "area": area,
            "post": post,
            "phone": f"1{rng.choice('3579')}{rng.randrange(10**9):09d}",
        }
        staff.append(row)
        return row

    for a in areas:
        if a.level == "grid":
            grid_worker[a.path] = str(
                account(f"w{a.code}", ["grid_worker"], a, "full_time_worker")["id"]
            )
        elif a.level == "community":
            account(f"l{a.code}", ["grid_worker", "dispatcher"], a, "grid_leader")
        elif a.level in {"street", "district"}:
            account(f"d{a.code}", ["dispatcher"], a, None)
            if a.level == "district":
                account(f"s{a.code}", ["supervisor"], a, None)
    return City(seed, shape, areas, departments, staff, grid_worker)


# --- streamed rows ------------------------------------------------------------------------


def point_in(ring: Sequence[tuple[float, float]], rng: random.Random) -> tuple[float, float]:
    """A (lat, lng) inside a convex quadrilateral ring (bilinear interpolation of its corners)."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = ring[:4]
    u, v = rng.uniform(0.02, 0.98), rng.uniform(0.02, 0.98)
    x = (1 - v) * ((1 - u) * x0 + u * x1) + v * ((1 - u) * x3 + u * x2)
    y = (1 - v) * ((1 - u) * y0 + u * y1) + v * ((1 - u) * y3 + u * y2)
    return y, x


def iter_households(city: City, now: datetime) -> Iterator[tuple[Any, ...]]:
    """Rows of ``household`` (columns ``HOUSEHOLD_COLUMNS``)."""
    rng = random.Random(city.seed * 1_000_003 + 1)
    for grid in city.grids:
        worker = city.grid_worker[grid.path]
        for h in range(grid.household_count or 0):
            key = rng.random() < 0.05
            hardship = rng.random() < 0.03
            visited = now - timedelta(days=rng.uniform(0, 90))
            cadence = 30 if key or hardship else 91
            yield (
                new_uuid(rng),
                grid.id,
                grid.path,
                f"{grid.code}{h + 1:04d}",
                key,
                hardship,
                worker,
                visited,
                visited + timedelta(days=cadence),
                now,
            )


HOUSEHOLD_COLUMNS = [
    "id",
    "area_id",
    "area_path",
    "household_no",
    "is_key",
    "is_hardship",
    "responsible_worker_id",
    "last_visited_at",
    "next_visit_due_at",
    "created_at",
]


@dataclass(frozen=True)
class Category:
    id: uuid.UUID
    code: str
    name: str
    kind: str
    routing: str
    handling_class: str
    priority: str


def category_weights(categories: Sequence[Category]) -> list[float]:
    """Zipf-like popularity: categories ordered by ``PREFIX_ORDER`` then code."""

    def rank_key(c: Category) -> tuple[int, str]:
        prefix = c.code[:2]
        return (PREFIX_ORDER.index(prefix) if prefix in PREFIX_ORDER else 99, c.code)

    order = sorted(range(len(categories)), key=lambda i: rank_key(categories[i]))
    weights = [0.0] * len(categories)
    for rank, i in enumerate(order):
        weights[i] = 1 / (rank + 1) ** 0.9
    return weights


def cumulative(pairs: Sequence[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    return [v for v, _ in pairs], list(itertools.accumulate(w for _, w in pairs))


def pick(values: list[Any], cum: list[float], r: float) -> Any:
    return values[bisect.bisect_right(cum, r * cum[-1])]


def report_times(n: int, now: datetime, per_day: int, rng: random.Random) -> list[datetime]:
    """``n`` report times ending at ``now``, ``per_day`` a day on average, oldest first."""
    days = max(1, math.ceil(n / per_day))
    start_day = (now + SHANGHAI_OFFSET).replace(hour=0, minute=0, second=0, microsecond=0) - (
        timedelta(days=days - 1)
    )
    day_weights = [
        0.8 if (start_day + timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(days)
    ]
    hours, hcum = cumulative(list(enumerate(HOUR_WEIGHTS)))
    dcum = list(itertools.accumulate(day_weights))
    out: list[datetime] = []
    while len(out) < n:
        d = bisect.bisect_right(dcum, rng.random() * dcum[-1])
        h = pick(hours, hcum, rng.random())
        local = start_day + timedelta(days=d, hours=h, seconds=rng.random() * 3600)
        at = (local - SHANGHAI_OFFSET).replace(tzinfo=UTC)
        if at <= now:
            out.append(at)
    out.sort()
    return out


CASE_COLUMNS = [
    "id",
    "case_number",
    "version",
    "status",
    "category_id",
    "category_code",
    "category_name",
    "kind",
    "routing",
    "handling_class",
    "priority",
    "major",
    "title",
    "description",
    "attributes",
    "channel",
    "lat",
    "lng",
    "area_code",
    "area_name",
    "area_path",
    "area_chain",
    "handling_area_path",
    "handling_level",
    "reporter_account_id",
    "anonymous",
    "reported_by_account_id",
    "on_behalf",
    "assignee_account_ids",
    "department_ids",
    "self_handled",
    "supporter_count",
    "due_at",
    "created_at",
    "updated_at",
    "resolved_at",
    "closed_at",
    "location_status",
]


def resident_id(n: int) -> str:
    return str(uuid.UUID(int=(0x5E5 << 112) | n))


def iter_cases(
    city: City,
    categories: Sequence[Category],
    n: int,
    now: datetime,
    *,
    per_day: int = 60_000,
    residents: int = 500_000,
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``case`` (columns ``CASE_COLUMNS``), oldest first."""
    rng = random.Random(city.seed * 1_000_003 + 2)
    grids = city.grids
    # where: by households, and 200 hot spots (markets, stations) three times as busy
    hot = set(rng.sample(range(len(grids)), min(200, len(grids))))
    gcum = list(
        itertools.accumulate(
            (g.household_count or 1) * (3 if i in hot else 1) for i, g in enumerate(grids)
        )
    )
    ccum = list(itertools.accumulate(category_weights(categories)))
    channels, chcum = cumulative(CHANNELS)
    priorities, pcum = cumulative(PRIORITIES)
    status_tables = [(limit, *cumulative(table)) for limit, table in STATUS_BY_AGE]
    owners: dict[tuple[int, str], list[str]] = {}
    by_id = {a.id: a for a in city.areas}
    chains: dict[str, tuple[str, str, str]] = {}  # grid path → (chain json, community, district)
    for g in grids:
        chain, node = [], g
        while node.parent_id is not None:
            chain.append({"code": node.code, "name": node.name, "level": node.level})
            node = by_id[node.parent_id]
        community = by_id[g.parent_id] if g.parent_id else g
        chains[g.path] = (
            json.dumps(chain[::-1], ensure_ascii=False),
            community.path,
            ".".join(g.path.split(".")[:2]),
        )
    for dept in city.departments:
        for prefix in dept["prefixes"]:
            for path in dept["area_paths"]:
                owners.setdefault((len(path), path + "|" + prefix), []).append(dept["code"])
    for i, created in enumerate(report_times(n, now, per_day, rng)):
        gi = bisect.bisect_right(gcum, rng.random() * gcum[-1])
        grid = grids[gi]
        chain, community, district = chains[grid.path]
        cat = categories[bisect.bisect_right(ccum, rng.random() * ccum[-1])]
        age_h = (now - created).total_seconds() / 3600
        _, values, cum = next(t for t in status_tables if age_h <= t[0])
        status = pick(values, cum, rng.random())
        priority = cat.priority if rng.random() < 0.7 else pick(priorities, pcum, rng.random())
        channel = pick(channels, chcum, rng.random())
        lat, lng = point_in(grid.ring, rng)
        handled = status not in UNHANDLED
        depts: list[str] = []
        if handled and rng.random() < 0.45:
            depts = owners.get((len(district), district + "|" + cat.code[:2]), [])[:1]
            if rng.random() < 0.1:
                depts = depts + owners.get((len(CITY_CODE), CITY_CODE + "|" + cat.code[:2]), [])[:1]
        assignees = [city.grid_worker[grid.path]] if handled and not depts else []
        self_handled = channel == "patrol" and handled and rng.random() < 0.6
        due = created + timedelta(days=LIMIT_DAYS.get(priority, 7))
        resolved_at = closed_at = None
        if status in {"resolved", "closed", "reopened"}:
            resolved_at = min(now, created + timedelta(hours=rng.expovariate(1 / 30)))
            if status != "resolved":
                closed_at = min(now, resolved_at + timedelta(hours=rng.expovariate(1 / 12)))
        updated = (
            closed_at or resolved_at or min(now, created + timedelta(hours=rng.random() * age_h))
        )
        escalated = status == "escalated"
        description = rng.choice(PLACES) + rng.choice(PROBLEMS) + rng.choice(TAILS)
        reporter = resident_id(rng.randrange(residents))
        staff_report = channel in {"patrol", "video"}
        yield (
            new_uuid(rng),
            f"{created + SHANGHAI_OFFSET:%Y%m%d}{i:08d}",
            1 + rng.randrange(8),
            status,
            cat.id,
            cat.code,
            cat.name,
            cat.kind,
            cat.routing,
            cat.handling_class,
            priority,
            rng.random() < 0.0005,
            description[:20],
            description,
            "{}",
            channel,
            lat,
            lng,
            grid.code,
            grid.name,
            grid.path,
            chain,
            ".".join(community.split(".")[:3]) if escalated else community,
            "street" if escalated else "community",
            None if staff_report else reporter,
            rng.random() < 0.02,
            city.grid_worker[grid.path] if staff_report else reporter,
            False,
            assignees,
            depts,
            self_handled,
            0,
            due,
            created,
            updated,
            resolved_at,
            closed_at,
            "located",
        )


# --- loading --------------------------------------------------------------------------------


def pg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _copy(
    conn: Any,
    table: str,
    columns: list[str],
    rows: Iterator[tuple[Any, ...]],
    label: str,
    chunk: int = 100_000,
) -> int:
    started, written = time.perf_counter(), 0
    while True:
        batch = list(itertools.islice(rows, chunk))
        if not batch:
            break
        await conn.copy_records_to_table(table, records=batch, columns=columns)
        written += len(batch)
        if written % 500_000 < chunk:
            print(f"  {label}: {written:>9,} ({time.perf_counter() - started:5.1f} s)", flush=True)
    return written


async def _jsonb(conn: Any) -> None:
    """Binary COPY of jsonb columns from already-encoded JSON text."""
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: b"\x01" + (v if isinstance(v, str) else json.dumps(v)).encode(),
        decoder=lambda b: json.loads(b[1:]),
        schema="pg_catalog",
        format="binary",
    )


async def _connect(url: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(pg_url(url))
    await conn.execute("SET session_replication_role = replica")  # no triggers during the load
    return conn


async def load_grid(url: str, city: City, now: datetime) -> dict[str, int]:
    """The area tree, departments, staff accounts and posts, and households (COPY)."""
    from grid_service.accounts.passwords import hash_secret
    from grid_service.areas.geometry import measure, parse_boundary

    conn = await _connect(url)
    try:
        areas = []
        for a in city.areas:
            m = measure(parse_boundary(a.boundary))
            areas.append(
                (
                    a.id,
                    a.code,
                    a.name,
                    a.level,
                    a.parent_id,
                    a.path,
                    a.depth,
                    json.dumps(a.boundary),
                    m.area_m2,
                    m.centroid_lat,
                    m.centroid_lng,
                    a.household_count,
                    now,
                    now,
                )
            )
        await _jsonb(conn)
        await conn.copy_records_to_table(
            "area",
            records=areas,
            columns=[
                "id",
                "code",
                "name",
                "level",
                "parent_id",
                "path",
                "depth",
                "boundary",
                "area_m2",
                "centroid_lat",
                "centroid_lng",
                "household_count",
                "created_at",
                "updated_at",
            ],
        )
        await conn.execute(
            "INSERT INTO area_tree_version (id, version, updated_at) VALUES (1, 1, now()), "
            "(2, 1, now()) ON CONFLICT (id) DO NOTHING"
        )
        await conn.copy_records_to_table(
            "department",
            records=[
                (
                    d["id"],
                    d["code"],
                    d["name"],
                    [f"{p}{m:02d}" for p in d["prefixes"] for m in range(1, 6)],
                    d["area_paths"],
                    None,
                    now,
                )
                for d in city.departments
            ],
            columns=["id", "code", "name", "categories", "area_paths", "phone", "created_at"],
        )
        password = await hash_secret("bench12345")
        await conn.copy_records_to_table(
            "account",
            records=[
                (
                    s["id"],
                    "staff",
                    s["username"],
                    s["name"],
                    password,
                    s["roles"],
                    s["area_paths"],
                    [],
                    s["home_area_path"],
                    s["phone"],
                    ["sms"],
                    0,
                    False,
                    now,
                )
                for s in city.staff
            ],
            columns=[
                "id",
                "kind",
                "username",
                "name",
                "password_hash",
                "roles",
                "area_paths",
                "department_ids",
                "home_area_path",
                "phone",
                "channels",
                "failed_logins",
                "disabled",
                "created_at",
            ],
        )
        rng = random.Random(city.seed * 1_000_003 + 3)
        await conn.copy_records_to_table(
            "member",
            records=[
                (
                    new_uuid(rng),
                    s["area"].id,
                    s["area"].path,
                    s["post"],
                    s["name"],
                    s["phone"],
                    s["id"],
                    rng.random() < 0.8,
                    now,
                )
                for s in city.staff
                if s["post"]
            ],
            columns=[
                "id",
                "area_id",
                "area_path",
                "post",
                "name",
                "phone",
                "account_id",
                "public_consent",
                "created_at",
            ],
        )
        households = await _copy(
            conn, "household", HOUSEHOLD_COLUMNS, iter_households(city, now), "households"
        )
        for table in ("area", "department", "account", "member", "household"):
            await conn.execute(f"VACUUM ANALYZE {table}")
        return {
            "areas": len(areas),
            "grids": len(city.grids),
            "departments": len(city.departments),
            "staff": len(city.staff),
            "households": households,
        }
    finally:
        await conn.close()


async def load_categories(url: str) -> list[Category]:
    """The real catalogue (case_service's demo loader), read back as ``Category`` rows."""
    from case_service.config import Settings
    from case_service.demo import load_demo
    from shared.db import make_engine, make_sessionmaker

    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await load_demo(session, Settings(database_url=url, environment="test"))
    finally:
        await engine.dispose()
    import asyncpg

    conn = await asyncpg.connect(pg_url(url))
    try:
        rows = await conn.fetch(
            "SELECT id, code, name, kind, routing, handling_class, default_priority FROM category"
            " WHERE is_current AND active AND length(code) = 4 ORDER BY code"
        )
    finally:
        await conn.close()
    return [Category(*r) for r in rows]


async def load_cases(
    url: str, city: City, n: int, now: datetime, per_day: int = 60_000
) -> dict[str, Any]:
    """``n`` cases (COPY, triggers off), then VACUUM ANALYZE."""
    categories = await load_categories(url)
    conn = await _connect(url)
    try:
        await _jsonb(conn)
        t = time.perf_counter()
        written = await _copy(
            conn,
            "case",
            CASE_COLUMNS,
            iter_cases(city, categories, n, now, per_day=per_day),
            "cases",
        )
        copy_s = time.perf_counter() - t
        await conn.execute('VACUUM ANALYZE "case"')
        open_cases = await conn.fetchval(
            'SELECT count(*) FROM "case" WHERE status = ANY($1::text[])', sorted(OPEN)
        )
    finally:
        await conn.close()
    return {
        "cases": written,
        "open_cases": open_cases,
        "categories": [c.code for c in categories],
        "copy_seconds": round(copy_s, 1),
    }


async def build(
    city: City, urls: dict[str, str], cases: int, now: datetime, per_day: int = 60_000
) -> dict[str, Any]:
    """Migrate and load both databases (already created): grid and case loads run together."""
    from case_service.config import ALEMBIC_INI as CASE_INI
    from grid_service.config import ALEMBIC_INI as GRID_INI
    from shared.migrate import upgrade_head

    started = time.perf_counter()
    # one after the other: Alembic's environment is not thread-safe
    await asyncio.to_thread(upgrade_head, GRID_INI, urls["grid"])
    await asyncio.to_thread(upgrade_head, CASE_INI, urls["case"])
    grid, case = await asyncio.gather(
        load_grid(urls["grid"], city, now), load_cases(urls["case"], city, cases, now, per_day)
    )
    return {**grid, **case, "seconds": round(time.perf_counter() - started, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 households a grid, 100,000 cases")
    parser.add_argument("--cases", type=int)
    parser.add_argument("--per-day", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    from shared.testing import create_database, drop_database

    shape = Shape.quick() if args.quick else Shape.full()
    cases = args.cases or (100_000 if args.quick else 1_000_000)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    t = time.perf_counter()
    city = generate(args.seed, shape)
    print(
        f"generated the tree in {time.perf_counter() - t:.1f} s: {len(city.areas):,} areas",
        flush=True,
    )
    urls = {
        "grid": await create_database("bench_city_grid"),
        "case": await create_database("bench_city_case"),
    }
    try:
        print(json.dumps(await build(city, urls, cases, now, args.per_day), default=str))
    finally:
        if args.keep:
            print(f"kept: {urls}")
        else:
            for url in urls.values():
                await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())

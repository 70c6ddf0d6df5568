"""Business rules of the area tree: codes per level, valid boundaries inside their parent, no
overlapping siblings, atomic GeoJSON import. Flushes, never commits."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.areas import repository
from grid_service.areas.geometry import (
    BoundaryError,
    inside,
    measure,
    overlaps,
    parse_boundary,
    to_geojson,
)
from grid_service.areas.models import Area
from grid_service.areas.schemas import (
    AreaCreate,
    AreaRead,
    AreaSummary,
    AreaUpdate,
    AreaWarning,
    Centroid,
    FeatureCollection,
    ImportResult,
)
from grid_service.config import Settings
from shared.auth import Principal
from shared.contracts.grids import AreaLevel, AreaRef
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Conflict, FieldProblem, NotFound, ValidationFailed

#: Code length of the levels with a national code (GB/T 2260, GB/T 10114, community 12 digits).
FIXED_CODE_LENGTH = {
    AreaLevel.city: 6,
    AreaLevel.district: 6,
    AreaLevel.street: 9,
    AreaLevel.community: 12,
}
GRID_SEQUENCE_DIGITS = 3  # a grid extends its parent's code by a 3-digit sequence
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass
class Node:
    """What validation needs to know of an area, stored or about to be."""

    code: str
    level: AreaLevel
    path: str
    depth: int
    geometry: BaseGeometry


@dataclass
class Candidate:
    code: str
    name: str
    level: AreaLevel
    household_count: int | None
    boundary: Any
    geometry: BaseGeometry | None = None
    problems: list[FieldProblem] = field(default_factory=list)


def to_summary(area: Area) -> AreaSummary:
    return AreaSummary(
        id=area.id,
        code=area.code,
        name=area.name,
        level=AreaLevel(area.level),
        parent_id=area.parent_id,
        path=area.path,
        depth=area.depth,
        area_m2=round(area.area_m2, 1),
        centroid=Centroid(lat=area.centroid_lat, lng=area.centroid_lng),
        household_count=area.household_count,
        created_at=area.created_at,
        updated_at=area.updated_at,
    )


def to_read(area: Area, warnings: list[AreaWarning] | None = None) -> AreaRead:
    return AreaRead(
        **to_summary(area).model_dump(), boundary=area.boundary, warnings=warnings or []
    )


def to_ref(area: Area) -> AreaRef:
    return AreaRef(
        id=area.id, code=area.code, name=area.name, level=AreaLevel(area.level), path=area.path
    )


def node_of(area: Area) -> Node:
    return Node(
        code=area.code,
        level=AreaLevel(area.level),
        path=area.path,
        depth=area.depth,
        geometry=parse_boundary(area.boundary),
    )


def _code_prefix(parent: Node) -> str:
    # districts share the first 4 digits of their city (330100 → 3301xx)
    return parent.code[:4] if parent.level is AreaLevel.city else parent.code


def check_code_and_level(
    cand: Candidate, parent: Node | None, settings: Settings, *, prefix: str = ""
) -> list[FieldProblem]:
    out: list[FieldProblem] = []
    levels = settings.area_levels
    if cand.level not in levels:
        out.append(
            FieldProblem(
                field=f"{prefix}level",
                reason=Text(
                    f"未配置层级 {cand.level}（{'、'.join(levels)}）",
                    f"level {cand.level} is not configured ({', '.join(levels)})",
                ),
                type="unknown_level",
            )
        )
        return out
    index = levels.index(cand.level)
    if parent is None and index != 0:
        out.append(
            FieldProblem(
                field=f"{prefix}parent_id" if not prefix else f"{prefix}parent_code",
                reason=Text(
                    f"{cand.level} 需要上级；只有 {levels[0]} 可以作为根",
                    f"a {cand.level} needs a parent; only a {levels[0]} is a root",
                ),
                type="missing_parent",
            )
        )
    if parent is not None and (
        parent.level not in levels or levels.index(parent.level) != index - 1
    ):
        out.append(
            FieldProblem(
                field=f"{prefix}level",
                reason=Text(
                    f"{cand.level} 不能作为 {parent.level} 的下级",
                    f"a {cand.level} cannot be a child of a {parent.level}",
                ),
                type="wrong_level",
            )
        )
    if not _DIGITS.match(cand.code):
        out.append(
            FieldProblem(
                field=f"{prefix}code",
                reason=Text("只能是数字", "must be digits only"),
                type="format",
            )
        )
        return out
    fixed = FIXED_CODE_LENGTH.get(cand.level)
    if fixed is not None and len(cand.code) != fixed:
        out.append(
            FieldProblem(
                field=f"{prefix}code",
                reason=Text(
                    f"{cand.level} 的编码为 {fixed} 位数字",
                    f"a {cand.level} code has {fixed} digits",
                ),
                type="format",
            )
        )
    if parent is not None:
        stem = _code_prefix(parent)
        extends = cand.code.startswith(stem) and cand.code != parent.code
        if fixed is None:
            extends = extends and len(cand.code) == len(parent.code) + GRID_SEQUENCE_DIGITS
        if not extends:
            need = f"{stem} followed by {GRID_SEQUENCE_DIGITS} digits" if fixed is None else stem
            out.append(
                FieldProblem(
                    field=f"{prefix}code",
                    reason=Text(
                        f"必须在上级编码基础上扩展：以 {need} 开头",
                        f"must extend its parent's code: start with {need}",
                    ),
                    type="not_extending_parent",
                )
            )
    return out


def check_boundary(cand: Candidate, *, prefix: str = "", name: str = "boundary") -> None:
    try:
        cand.geometry = parse_boundary(cand.boundary)
    except BoundaryError as exc:
        cand.problems.append(
            FieldProblem(field=f"{prefix}{name}", reason=exc.text, type="invalid_geometry")
        )


def check_placement(
    geometry: BaseGeometry,
    parent: Node | None,
    siblings: list[tuple[str, BaseGeometry]],
    settings: Settings,
    *,
    field_name: str,
) -> list[FieldProblem]:
    out: list[FieldProblem] = []
    tol = settings.boundary_tolerance_m
    if parent is not None and not inside(geometry, parent.geometry, tolerance_m=tol):
        out.append(
            FieldProblem(
                field=field_name,
                reason=Text(
                    f"不在上级区域 {parent.code} 范围内", f"not inside its parent {parent.code}"
                ),
                type="outside_parent",
            )
        )
    clashes = [code for code, other in siblings if overlaps(geometry, other, tolerance_m=tol)]
    if clashes:
        out.append(
            FieldProblem(
                field=field_name,
                reason=Text(
                    f"与同级区域 {'、'.join(clashes)} 重叠",
                    f"overlaps sibling area(s) {', '.join(clashes)}",
                ),
                type="overlaps_sibling",
            )
        )
    return out


def household_warnings(
    level: AreaLevel, household_count: int | None, settings: Settings, *, prefix: str = ""
) -> list[AreaWarning]:
    if level is not AreaLevel.grid or household_count is None:
        return []
    low, high = settings.grid_households_min, settings.grid_households_max
    if low <= household_count <= high:
        return []
    return [
        AreaWarning(
            field=f"{prefix}household_count",
            code="household_count_out_of_range",
            reason=f"a grid usually has {low}-{high} households (一般以500-1000户为一网格); "
            f"this one has {household_count}",
        )
    ]


def _new_area(cand: Candidate, parent: Node | None, parent_id: uuid.UUID | None) -> Area:
    assert cand.geometry is not None
    measured = measure(cand.geometry)
    return Area(
        code=cand.code,
        name=cand.name,
        level=cand.level.value,
        parent_id=parent_id,
        path=f"{parent.path}.{cand.code}" if parent else cand.code,
        depth=parent.depth + 1 if parent else 0,
        boundary=to_geojson(cand.geometry),
        area_m2=measured.area_m2,
        centroid_lat=measured.centroid_lat,
        centroid_lng=measured.centroid_lng,
        household_count=cand.household_count,
    )


async def _siblings(
    session: AsyncSession, parent_id: uuid.UUID | None, *, exclude: uuid.UUID | None = None
) -> list[tuple[str, BaseGeometry]]:
    rows = (
        await repository.children(session, [parent_id])
        if parent_id is not None
        else await repository.roots(session)
    )
    return [(a.code, parse_boundary(a.boundary)) for a in rows if a.id != exclude]


async def get_area(session: AsyncSession, area_id: uuid.UUID) -> Area:
    area = await repository.get(session, area_id)
    if area is None:
        raise NotFound(Text(f"没有区域 {area_id}", f"No area {area_id}"), code="area_not_found")
    return area


async def create_area(
    session: AsyncSession, *, body: AreaCreate, settings: Settings, principal: Principal
) -> tuple[Area, list[AreaWarning]]:
    from grid_service.scope import ensure_covers

    await repository.lock_tree(session)
    parent_area = None
    if body.parent_id is not None:
        parent_area = await repository.get(session, body.parent_id)
        if parent_area is None:
            raise ValidationFailed(
                Text("上级区域不存在", "The parent area does not exist"),
                code="parent_not_found",
                errors=[
                    FieldProblem(
                        field="parent_id",
                        reason=Text("没有这个区域", "no such area"),
                        type="not_found",
                    )
                ],
            )
    parent = node_of(parent_area) if parent_area else None
    if parent is not None:  # a root's scope is checked once its code is known to be valid
        ensure_covers(principal, [f"{parent.path}.{body.code}"])
    cand = Candidate(
        code=body.code,
        name=body.name,
        level=body.level,
        household_count=body.household_count,
        boundary=body.boundary,
    )
    cand.problems.extend(check_code_and_level(cand, parent, settings))
    check_boundary(cand)
    if await repository.get_by_code(session, body.code) is not None:
        cand.problems.append(
            FieldProblem(
                field="code",
                reason=Text(f"{body.code} 已存在", f"{body.code} already exists"),
                type="duplicate",
            )
        )
    if cand.geometry is not None:
        siblings = await _siblings(session, body.parent_id)
        cand.problems.extend(
            check_placement(cand.geometry, parent, siblings, settings, field_name="boundary")
        )
    if cand.problems:
        raise ValidationFailed(
            Text(
                f"无法创建该区域：有 {len(cand.problems)} 个问题",
                f"The area cannot be created: {len(cand.problems)} problem(s)",
            ),
            code="invalid_area",
            errors=cand.problems,
        )
    if parent is None:
        ensure_covers(principal, [body.code])
    area = _new_area(cand, parent, body.parent_id)
    session.add(area)
    await session.flush()
    await repository.bump_version(session)
    return area, household_warnings(body.level, body.household_count, settings)


async def update_area(
    session: AsyncSession, *, area: Area, body: AreaUpdate, settings: Settings
) -> tuple[Area, list[AreaWarning]]:
    await repository.lock_tree(session)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed(
            Text("名称不能为空", "name cannot be null"),
            errors=[
                FieldProblem(field="name", reason=Text("不能为空", "cannot be null"), type="null")
            ],
        )
    if "boundary" in changes:
        if body.boundary is None:
            raise ValidationFailed(
                Text("边界不能为空", "boundary cannot be null"),
                errors=[
                    FieldProblem(
                        field="boundary", reason=Text("不能为空", "cannot be null"), type="null"
                    )
                ],
            )
        cand = Candidate(
            code=area.code,
            name=area.name,
            level=AreaLevel(area.level),
            household_count=area.household_count,
            boundary=body.boundary,
        )
        check_boundary(cand)
        if cand.geometry is not None:
            parent_area = await repository.get(session, area.parent_id) if area.parent_id else None
            parent = node_of(parent_area) if parent_area else None
            siblings = await _siblings(session, area.parent_id, exclude=area.id)
            cand.problems.extend(
                check_placement(cand.geometry, parent, siblings, settings, field_name="boundary")
            )
            tol = settings.boundary_tolerance_m
            outside = [
                c.code
                for c in await repository.children(session, [area.id])
                if not inside(parse_boundary(c.boundary), cand.geometry, tolerance_m=tol)
            ]
            if outside:
                cand.problems.append(
                    FieldProblem(
                        field="boundary",
                        reason=Text(
                            f"下级区域 {'、'.join(outside)} 将落在范围之外",
                            f"child area(s) {', '.join(outside)} would fall outside",
                        ),
                        type="children_outside",
                    )
                )
        if cand.problems:
            raise ValidationFailed(
                Text("无法修改该区域", "The area cannot be changed"),
                code="invalid_area",
                errors=cand.problems,
            )
        assert cand.geometry is not None
        measured = measure(cand.geometry)
        area.boundary = to_geojson(cand.geometry)
        area.area_m2 = measured.area_m2
        area.centroid_lat = measured.centroid_lat
        area.centroid_lng = measured.centroid_lng
    if body.name is not None:
        area.name = body.name
    if "household_count" in changes:
        area.household_count = body.household_count
    area.updated_at = utcnow()
    session.add(area)
    await session.flush()
    await repository.bump_version(session)
    return area, household_warnings(AreaLevel(area.level), area.household_count, settings)


async def delete_area(session: AsyncSession, *, area: Area) -> None:
    from grid_service.members import repository as members_repository

    await repository.lock_tree(session)
    if await repository.has_children(session, area.id):
        raise Conflict(
            Text("请先删除下级区域", "Delete the child areas first"), code="area_has_children"
        )
    if await members_repository.area_has_members(session, area.id):
        raise Conflict(
            Text("请先移除该区域的成员", "Remove the area's members first"), code="area_has_members"
        )
    await session.delete(area)
    await session.flush()
    await repository.bump_version(session)


async def import_features(
    session: AsyncSession, *, body: FeatureCollection, settings: Settings, principal: Principal
) -> ImportResult:
    """All features or none: every bad feature is listed in the problem's ``errors``."""
    from grid_service.scope import ensure_covers

    await repository.lock_tree(session)
    levels = list(AreaLevel)
    order = sorted(
        range(len(body.features)), key=lambda i: levels.index(body.features[i].properties.level)
    )
    codes = [f.properties.code for f in body.features]
    existing = await repository.get_by_codes(
        session,
        codes + [f.properties.parent_code for f in body.features if f.properties.parent_code],
    )
    problems: list[FieldProblem] = []
    accepted: dict[str, tuple[Candidate, Node | None, Node]] = {}  # code → (cand, parent, node)
    parent_ids: dict[str, uuid.UUID | None] = {}
    sibling_cache: dict[str, list[tuple[str, BaseGeometry]]] = {}
    seen: set[str] = set()
    warnings: list[AreaWarning] = []
    outside_scope: list[str] = []
    for i in order:
        props = body.features[i].properties
        prefix = f"features[{i}]."
        cand = Candidate(
            code=props.code,
            name=props.name,
            level=props.level,
            household_count=props.household_count,
            boundary=body.features[i].geometry,
        )
        if props.code in existing or props.code in seen:
            cand.problems.append(
                FieldProblem(
                    field=f"{prefix}properties.code",
                    reason=Text(f"{props.code} 已存在", f"{props.code} already exists"),
                    type="duplicate",
                )
            )
        seen.add(props.code)
        parent: Node | None = None
        parent_key = ""
        if props.parent_code:
            if props.parent_code in accepted:
                parent = accepted[props.parent_code][2]
                parent_key = props.parent_code
            elif props.parent_code in existing:
                parent = node_of(existing[props.parent_code])
                parent_key = props.parent_code
                parent_ids[props.parent_code] = existing[props.parent_code].id
            else:
                cand.problems.append(
                    FieldProblem(
                        field=f"{prefix}properties.parent_code",
                        reason=Text(
                            f"本次导入中没有区域 {props.parent_code}，或其无效",
                            f"no area {props.parent_code} exists or is valid in this import",
                        ),
                        type="not_found",
                    )
                )
        if parent is not None or not props.parent_code:
            cand.problems.extend(
                check_code_and_level(cand, parent, settings, prefix=f"{prefix}properties.")
            )
        check_boundary(cand, prefix=prefix, name="geometry")
        path = f"{parent.path}.{props.code}" if parent else props.code
        if (parent is not None or not props.parent_code) and not principal.covers_area(path):
            outside_scope.append(path)
        if cand.geometry is not None and (parent is not None or not props.parent_code):
            if parent_key not in sibling_cache:
                pid = parent_ids.get(parent_key) if parent_key else None
                stored = (
                    await _siblings(session, pid) if (pid is not None or not parent_key) else []
                )
                sibling_cache[parent_key] = stored
            cand.problems.extend(
                check_placement(
                    cand.geometry,
                    parent,
                    sibling_cache[parent_key],
                    settings,
                    field_name=f"{prefix}geometry",
                )
            )
        if cand.problems:
            problems.extend(cand.problems)
            continue
        assert cand.geometry is not None
        sibling_cache[parent_key].append((props.code, cand.geometry))
        node = Node(
            code=props.code,
            level=props.level,
            path=path,
            depth=parent.depth + 1 if parent else 0,
            geometry=cand.geometry,
        )
        accepted[props.code] = (cand, parent, node)
        warnings.extend(
            household_warnings(props.level, props.household_count, settings, prefix=prefix)
        )
    ensure_covers(principal, outside_scope)
    if problems:
        problems.sort(key=lambda p: _feature_index(p.field))
        bad = len({p.field.split(".")[0] for p in problems})
        raise ValidationFailed(
            Text(
                f"未导入任何数据：有 {bad} 个要素无效",
                f"Nothing was imported: {bad} feature(s) are invalid",
            ),
            code="import_invalid",
            errors=problems,
        )
    created: list[Area] = []
    ids: dict[str, uuid.UUID] = {code: a.id for code, a in existing.items()}
    for code in [body.features[i].properties.code for i in order]:
        cand, parent, _node = accepted[code]
        parent_id = ids[parent.code] if parent is not None else None
        area = _new_area(cand, parent, parent_id)
        ids[code] = area.id
        session.add(area)
        created.append(area)
        await session.flush()
    await repository.bump_version(session)
    return ImportResult(
        imported=len(created), areas=[to_summary(a) for a in created], warnings=warnings
    )


def _feature_index(field_name: str) -> int:
    match = re.match(r"features\[(\d+)\]", field_name)
    return int(match.group(1)) if match else -1


async def export_features(session: AsyncSession, *, under_path: str | None) -> dict[str, Any]:
    areas = await repository.subtree(session, under_path)
    by_id = {a.id: a for a in areas}
    parent_codes: dict[uuid.UUID, str] = {}
    for a in areas:
        if a.parent_id is not None:
            parent = by_id.get(a.parent_id)
            parent_codes[a.id] = parent.code if parent else a.path.split(".")[-2]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": str(a.id),
                "geometry": a.boundary,
                "properties": {
                    "code": a.code,
                    "name": a.name,
                    "level": a.level,
                    "parent_code": parent_codes.get(a.id),
                    "path": a.path,
                    "household_count": a.household_count,
                    "area_m2": round(a.area_m2, 1),
                },
            }
            for a in areas
        ],
    }


async def get_area_or_none(session: AsyncSession, area_id: uuid.UUID) -> Area | None:
    return await repository.get(session, area_id)

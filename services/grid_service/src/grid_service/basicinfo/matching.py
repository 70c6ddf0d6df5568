"""Matching an address as said or typed against the standard-address register (一标).

1. exact: the normalised street (街路巷 + 门牌号) equal, and each of building, unit and room the
   caller gave equal to the register's (an entry without unit or room still matches at its
   level) — one btree lookup on ``(street_key, building_key)``;
2. otherwise similar: pg_trgm ``similarity`` of the normalised whole against ``normalized``
   (GIN trigram index, ``%`` operator at the similarity threshold).

The answer ranks the candidates by score (1.0 the exact register entry) and says whether the
address is placed: ``matched`` when the best candidates all lie in one grid (exact), or when one
similar candidate is clearly better than any in another grid; ``ambiguous`` when candidates
lie in several grids; ``unmatched`` when there are none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.areas import repository as areas_repository
from grid_service.areas.models import Area
from grid_service.basicinfo.addressing import ParsedAddress, parse
from grid_service.basicinfo.models import StandardAddress
from grid_service.basicinfo.repository import under_any

#: pg_trgm similarity a candidate needs to be listed, and to place an address on its own
LIST_THRESHOLD = 0.3
PLACE_THRESHOLD = 0.7
#: a similar candidate places the address only this far ahead of any in another grid
PLACE_MARGIN = 0.1


@dataclass(frozen=True)
class Candidate:
    address: StandardAddress
    score: float
    method: str  # exact | similar


@dataclass(frozen=True)
class MatchOutcome:
    parsed: ParsedAddress
    status: str  # matched | ambiguous | unmatched
    candidates: list[Candidate]


def _exact_score(parsed: ParsedAddress, row: StandardAddress) -> float | None:
    """1.0 the same entry; 0.95 the register is more detailed than what was said (a building
    when only the house number was given); 0.9 coarser (the building, without that room);
    None: a different building, unit or room."""
    score = 1.0
    for said, kept in (
        (parsed.building, row.building_key),
        (parsed.unit, row.unit_key),
        (parsed.room, row.room_key),
    ):
        if said and kept and said != kept:
            return None
        if said and not kept:
            score = min(score, 0.9)
        elif kept and not said:
            score = min(score, 0.95)
    return score


def _scoped(stmt: sa.Select[Any], paths: Sequence[str] | None) -> sa.Select[Any]:
    if paths:
        stmt = stmt.where(under_any(col(StandardAddress.area_path), paths))
    return stmt


async def match(
    session: AsyncSession, text: str, *, paths: Sequence[str] | None, limit: int
) -> MatchOutcome:
    parsed = parse(text)
    candidates: list[Candidate] = []
    if parsed.street:
        stmt = sa.select(StandardAddress).where(col(StandardAddress.street_key) == parsed.street)
        if parsed.building:
            stmt = stmt.where(col(StandardAddress.building_key).in_([parsed.building, ""]))
        rows = (await session.execute(_scoped(stmt, paths).limit(500))).scalars().all()
        for row in rows:
            score = _exact_score(parsed, row)
            if score is not None:
                candidates.append(Candidate(row, score, "exact"))
    if candidates:
        candidates.sort(key=lambda c: (-c.score, c.address.normalized, str(c.address.id)))
        best = candidates[0].score
        top_grids = {c.address.area_id for c in candidates if c.score == best}
        status = "matched" if len(top_grids) == 1 else "ambiguous"
        return MatchOutcome(parsed, status, candidates[:limit])

    normalized = parsed.normalized
    if not normalized:
        return MatchOutcome(parsed, "unmatched", [])
    similarity = sa.func.similarity(col(StandardAddress.normalized), normalized)
    await session.execute(sa.text(f"SET LOCAL pg_trgm.similarity_threshold = {LIST_THRESHOLD}"))
    stmt = (
        sa.select(StandardAddress, similarity.label("score"))
        .where(col(StandardAddress.normalized).op("%")(normalized))
        .order_by(similarity.desc(), col(StandardAddress.id))
        .limit(limit)
    )
    found = (await session.execute(_scoped(stmt, paths))).all()
    candidates = [Candidate(row, round(float(score), 4), "similar") for row, score in found]
    if not candidates:
        return MatchOutcome(parsed, "unmatched", [])
    top = candidates[0]
    rivals = [c.score for c in candidates if c.address.area_id != top.address.area_id]
    placed = top.score >= PLACE_THRESHOLD and (not rivals or top.score - rivals[0] >= PLACE_MARGIN)
    return MatchOutcome(parsed, "matched" if placed else "ambiguous", candidates)


async def area_chains(session: AsyncSession, paths: set[str]) -> dict[str, list[Area]]:
    """Each area path → its areas from the root down (one query for every path)."""
    prefixes = {".".join(p.split(".")[: i + 1]) for p in paths for i in range(p.count(".") + 1)}
    by_path = await areas_repository.get_by_paths(session, prefixes)
    return {
        p: [
            by_path[q]
            for q in (".".join(p.split(".")[: i + 1]) for i in range(p.count(".") + 1))
            if q in by_path
        ]
        for p in paths
    }

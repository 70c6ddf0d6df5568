"""Messages of the mediation work to people, through notify_service.

A notice is a row of ``mediation_notice`` written in the transaction of what it tells (the
sweep of grids that did not report, a monthly report generated, a 重大 dispute, an overdue
mediation). Its ``dedup_key`` is unique, so a second replica writing the same notice adds
nothing (``ON CONFLICT DO NOTHING``). The relay claims rows like every outbox relay
(:mod:`shared.outbox`: ``FOR UPDATE SKIP LOCKED``, a lease, no transaction open during HTTP),
asks grid_service who the recipients are (``recipients``: the workers of a grid from its
members, the on-duty handlers of departments, the dispatchers and supervisors of an area),
stores them on the row and posts one ``POST /api/v1/notifications`` per person with
``Idempotency-Key`` ``<row id>:<account id>``, so a repeat reaches nobody twice. case_service's
platform client needs the scope ``notifications:write`` for that.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.mediation.models import MediationNotice, ScreeningReport
from shared.i18n import Text
from shared.logging import get_logger
from shared.oauth import ClientCredentials
from shared.outbox import RelayLoop, claim, release, settle
from shared.problem import AppError, UpstreamError

log = get_logger(__name__)

#: grid posts whose holders screen the grid and are reminded (网格员; the leader too)
WORKER_POSTS = ("full_time_worker", "part_time_worker", "grid_leader")

#: (notification body, Idempotency-Key) → HTTP status
Post = Callable[[dict[str, Any], str], Awaitable[int]]


async def write(
    session: AsyncSession,
    *,
    kind: str,
    dedup_key: str,
    template_key: str,
    variables: dict[str, str],
    recipients: dict[str, Any],
    priority: str = "normal",
) -> bool:
    """Add a notice unless one with this key exists; True when this call added it."""
    table = MediationNotice.__table__  # type: ignore[attr-defined]
    stmt = (
        insert(table)
        .values(
            id=uuid.uuid4(),
            kind=kind,
            dedup_key=dedup_key,
            template_key=template_key,
            variables=variables,
            priority=priority,
            recipients=recipients,
            created_at=sa.func.now(),
            next_attempt_at=sa.func.now(),
            attempts=0,
        )
        .on_conflict_do_nothing(constraint="uq_mediation_notice_dedup_key")
        .returning(table.c.id)
    )
    return (await session.execute(stmt)).first() is not None


class Directory(Protocol):
    """What the relay asks grid_service (with no transaction open)."""

    async def members(self, area_id: uuid.UUID) -> list[dict[str, Any]]: ...

    async def departments(self, category: str, area_path: str) -> list[str]: ...

    async def responsible(self, paths: list[str], roles: list[str], match: str) -> list[str]: ...


class GridDirectory:
    """grid_service over case_service's own platform client."""

    def __init__(self, credentials: ClientCredentials) -> None:
        self.credentials = credentials

    async def _get(self, path: str, params: dict[str, Any], what: str) -> Any:
        response = await self.credentials.request("GET", path, params=params, retry=True)
        if response.status_code != 200:
            raise UpstreamError(
                Text(
                    f"grid_service 对{what}返回了 {response.status_code}",
                    f"grid_service answered {response.status_code} to {what}",
                ),
                code="recipients_unavailable",
            )
        return response.json()

    async def members(self, area_id: uuid.UUID) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"area_id": str(area_id), "limit": 100}
        while True:
            body = await self._get("/api/v1/members", params, "成员列表")
            out += body["items"]
            if not body.get("next_cursor"):
                return out
            params["cursor"] = body["next_cursor"]

    async def departments(self, category: str, area_path: str) -> list[str]:
        body = await self._get(
            "/api/v1/departments",
            {"category": category, "area_path": area_path, "limit": 100},
            "部门列表",
        )
        return [str(d["code"]) for d in body["items"]]

    async def responsible(self, paths: list[str], roles: list[str], match: str) -> list[str]:
        where = "department_id" if match == "department" else "area_path"
        body = await self._get(
            "/api/v1/recipients/responsible",
            {where: paths, "roles": roles, "match": match},
            "责任人查询",
        )
        return [str(uuid.UUID(i)) for i in body["account_ids"]]


def grid_workers(members: list[dict[str, Any]]) -> list[str]:
    """The accounts answering for the grid's worker posts now: the member, or — while they
    are away — the backup answering for them (AB岗)."""
    present = [m for m in members if m.get("post") in WORKER_POSTS]
    out: list[str] = []
    for m in present:
        if m.get("backup_for_id"):
            continue  # a backup is asked for only when the primary is away
        holder = m
        if m.get("away"):
            holder = next(
                (b for b in present if b.get("backup_for_id") == m["id"] and not b.get("away")),
                m,
            )
        if holder.get("account_id"):
            out.append(str(holder["account_id"]))
    return list(dict.fromkeys(out))


async def recipients_of(
    maker: async_sessionmaker[AsyncSession], directory: Directory, row: MediationNotice
) -> list[str] | None:
    """Who hears this notice; None when it need not be sent any more (the grid reported
    meanwhile)."""
    spec = row.recipients
    out: list[str] = [str(a) for a in spec.get("account_ids") or []]
    if "grid" in spec:
        grid = spec["grid"]
        async with maker() as session:
            filed = await session.execute(
                sa.select(sa.literal(1)).where(
                    ScreeningReport.__table__.c.grid_path == grid["path"],  # type: ignore[attr-defined]
                    ScreeningReport.__table__.c.period == grid["period"],  # type: ignore[attr-defined]
                )
            )
            if filed.first() is not None:
                return None
        out += grid_workers(await directory.members(uuid.UUID(grid["area_id"])))
    if "departments" in spec:
        d = spec["departments"]
        codes = list(d.get("ids") or [])
        if d.get("category") and d.get("area_path"):
            codes += await directory.departments(d["category"], d["area_path"])
        codes = list(dict.fromkeys(c for c in codes if c))
        if codes:
            out += await directory.responsible(codes[:20], ["department_handler"], "department")
    for r in spec.get("responsible") or []:
        if r.get("paths"):
            out += await directory.responsible(list(r["paths"]), list(r["roles"]), r["match"])
    return list(dict.fromkeys(out))


async def _store_accounts(
    maker: async_sessionmaker[AsyncSession], row_id: uuid.UUID, accounts: list[str]
) -> None:
    async with maker() as session, session.begin():
        await session.execute(
            sa.update(MediationNotice.__table__)  # type: ignore[attr-defined]
            .where(MediationNotice.__table__.c.id == row_id)  # type: ignore[attr-defined]
            .values(account_ids=accounts)
        )


async def _deliver(
    maker: async_sessionmaker[AsyncSession], directory: Directory, post: Post, row: MediationNotice
) -> str | None:
    """Post the notice to each recipient; None when all were accepted, else why not."""
    accounts = row.account_ids
    if accounts is None:
        found = await recipients_of(maker, directory, row)
        if found is None:
            log.info("mediation_notice_not_needed", notice_id=str(row.id), kind=row.kind)
            return None
        accounts = found
        # stored, so a retried post goes to the same people under the same keys
        await _store_accounts(maker, row.id, accounts)
    for account in accounts:
        status = await post(
            {
                "template_key": row.template_key,
                "variables": row.variables,
                "recipient": {"account_id": account},
                "priority": row.priority,
            },
            f"{row.id}:{account}",
        )
        if not 200 <= status < 300:
            log.warning("mediation_notice_refused", notice_id=str(row.id), status=status)
            return f"notify_service answered {status}"
    return None


async def relay_once(
    maker: async_sessionmaker[AsyncSession],
    directory: Directory,
    post: Post,
    *,
    batch: int = 50,
    stopping: asyncio.Event | None = None,
) -> int:
    """Relay one batch; return how many notices went to everyone they were for."""
    rows = await claim(maker, MediationNotice, batch)
    done = 0
    for i, row in enumerate(rows):
        if stopping is not None and stopping.is_set():
            await release(maker, MediationNotice, [r.id for r in rows[i:]])
            break
        try:
            error = await _deliver(maker, directory, post, row)
        except AppError as exc:
            error = exc.instance_code
        await settle(maker, MediationNotice, row.id, error=error)
        done += error is None
    return done


def notify_poster(http: Any, credentials: ClientCredentials) -> Post:
    """``POST /api/v1/notifications`` at notify_service with case_service's own token (its
    platform client holds ``notifications:write``); once more with a fresh token after 401."""

    async def post(body: dict[str, Any], key: str) -> int:
        status = 0
        for attempt in (1, 2):
            token = await credentials.token(force=attempt == 2)
            response = await http.post(
                "/api/v1/notifications",
                json=body,
                idempotency_key=key,
                headers={"Authorization": f"Bearer {token}"},
            )
            status = response.status_code
            if status != 401:
                break
        return int(status)

    return post


class NoticeRelay(RelayLoop):
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        directory: Directory,
        post: Post,
        *,
        poll_seconds: float = 1.0,
        batch: int = 50,
    ) -> None:
        async def once(stopping: asyncio.Event) -> int:
            return await relay_once(maker, directory, post, batch=batch, stopping=stopping)

        super().__init__(
            once, name="mediation_notice_relay", batch=batch, poll_seconds=poll_seconds
        )

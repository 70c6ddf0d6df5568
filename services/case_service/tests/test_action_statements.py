"""Statements per lifecycle action (issue 15), counted exactly so that a change that sends more
fails here: ``POST /cases/{id}/actions/{action}`` as a client sends it, every statement the
request sends to PostgreSQL (an executemany counts once; BEGIN/COMMIT are not statements).

An ordinary life — accept, dispatch, claim, resolve, verify — and the same life of a case a
duplicate was merged into, whose actions read the merged cases (once) and whose outcomes are
also told to the duplicate's reporter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from conftest import DISPATCHER_C1, RESIDENT, RESIDENT2, WORKER_A, Api
from sqlalchemy import event
from test_lifecycle import api_sessionmaker

#: the statements of the request being counted (the app's other tasks leave this unset)
_SENT: ContextVar[list[str] | None] = ContextVar("sent", default=None)


def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    sent = _SENT.get()
    if sent is not None:
        sent.append(statement)


@asynccontextmanager
async def listening(app: Any) -> AsyncIterator[None]:
    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", _count)


async def counted(api: Api, who: Any, case_id: str, action: str, **body: Any) -> list[str]:
    sent: list[str] = []
    token = _SENT.set(sent)
    try:
        await api.act(who, case_id, action, **body)
    finally:
        _SENT.reset(token)
    return sent


LIFE = (
    (DISPATCHER_C1, "accept", {}),
    (DISPATCHER_C1, "dispatch", {"assignees": [{"account_id": WORKER_A.sub, "role": "lead"}]}),
    (WORKER_A, "claim", {}),
    (WORKER_A, "resolve", {"result": "已更换井盖"}),
    (DISPATCHER_C1, "verify", {}),
)

#: lock the case, its assignments, its open deadlines (locked); then one flush
ORDINARY = {
    # + the policy/calendar/work-order read, the accept deadline's timers; the case, the
    # timeline, the event, the met deadline, three new deadlines and their timers
    "accept": 11,
    # + the met deadlines' timers; case, new assignment, timeline, event, met deadlines
    "dispatch": 9,
    # nothing to meet (the first response was met at dispatch): case, timeline, event
    "claim": 6,
    # + the resolve deadline's timers; case, the handler's assignment, timeline, event,
    # the met deadline
    "resolve": 9,
    # no deadline left open: case, timeline, event
    "verify": 6,
}

#: with a duplicate merged in: + the merged cases (read once); the duplicate's reporter's
#: event goes in the same INSERT as the case's
MERGED = {action: n + 1 for action, n in ORDINARY.items()}


async def test_an_ordinary_life_in_few_statements(api: Api, app: Any) -> None:
    case = await api.report(RESIDENT)
    counts: dict[str, int] = {}
    async with listening(app):
        for who, action, body in LIFE:
            sent = await counted(api, who, case["id"], action, **body)
            counts[action] = len(sent)
            updates = [s for s in sent if s.startswith('UPDATE "case"')]
            assert len(updates) == 1, (action, updates)  # due_at goes with the rest
    assert counts == ORDINARY


async def test_a_case_with_a_merged_duplicate_reads_it_once(api: Api, app: Any) -> None:
    master = await api.report(RESIDENT)
    duplicate = await api.report(RESIDENT2, description="同一个井盖，另一位居民")
    await api.act(DISPATCHER_C1, duplicate["id"], "merge", into_case_id=master["id"])
    counts: dict[str, int] = {}
    async with listening(app):
        for who, action, body in LIFE:
            sent = await counted(api, who, master["id"], action, **body)
            counts[action] = len(sent)
            merged_reads = [s for s in sent if s.startswith("SELECT") and "merged_into_id =" in s]
            assert len(merged_reads) == 1, (action, merged_reads)
    assert counts == MERGED
    async with api_sessionmaker(api)() as session:
        told = (
            await session.execute(
                sa.text(
                    "SELECT type, payload->>'master_status' FROM outbox_event"
                    " WHERE case_id = :id AND payload ? 'master_case_id' ORDER BY created_at"
                ),
                {"id": duplicate["id"]},
            )
        ).all()
        named = (
            await session.execute(
                sa.text(
                    "SELECT type, payload->'supporter_account_ids' FROM outbox_event"
                    " WHERE case_id = :id AND type = 'case.claimed'"
                ),
                {"id": master["id"]},
            )
        ).all()
    assert [tuple(r) for r in told] == [
        ("case.accepted", "accepted"),
        ("case.resolved", "resolved"),
        ("case.closed", "closed"),
    ]
    assert [tuple(r) for r in named] == [("case.claimed", [RESIDENT2.sub])]

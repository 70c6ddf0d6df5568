"""The case lifecycle: one explicit transition table, and who may take each action.

GB/T 30428 立案→派遣→处置→核查→结案, with the 12345 / 综治中心 additions (reject, return, escalate,
suspend, rework, reopen, void, merge). ``TRANSITIONS[action][from_status]`` is the status after
the action; an action missing for the current status is an ``illegal_transition`` (409).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from case_service.cases.models import Case


class Status(StrEnum):
    reported = "reported"  # 上报
    accepted = "accepted"  # 受理/立案
    rejected = "rejected"  # 不予受理
    dispatched = "dispatched"  # 派遣/交办
    in_progress = "in_progress"  # 处置中 (claimed)
    returned = "returned"  # 退回 (misrouted)
    resolved = "resolved"  # 办结, awaiting verification (核查)
    escalated = "escalated"  # 上报上级
    closed = "closed"  # 结案
    suspended = "suspended"  # 挂账
    reopened = "reopened"  # 差评整改
    voided = "voided"  # 作废
    merged = "merged"  # 并案 into another case


class Action(StrEnum):
    accept = "accept"
    reject = "reject"
    void = "void"
    dispatch = "dispatch"
    reassign = "reassign"
    claim = "claim"
    return_ = "return"
    resolve = "resolve"
    escalate = "escalate"
    verify = "verify"
    rework = "rework"
    suspend = "suspend"
    resume = "resume"
    reopen = "reopen"
    rate = "rate"
    merge = "merge"
    locate = "locate"  # 定位: place a case (typically 待定位) in its grid, by point or address


OPEN = (
    Status.reported,
    Status.accepted,
    Status.dispatched,
    Status.in_progress,
    Status.returned,
    Status.escalated,
    Status.reopened,
)
FINAL = (Status.rejected, Status.voided, Status.merged)

#: ``TRANSITIONS[action][from] = to``. ``resume`` returns to the status before suspension
#: (``Status.suspended`` maps to itself here; the service reads ``suspended_from``).
TRANSITIONS: dict[Action, dict[Status, Status]] = {
    Action.accept: {Status.reported: Status.accepted, Status.escalated: Status.accepted},
    Action.reject: {Status.reported: Status.rejected},
    Action.void: {Status.reported: Status.voided, Status.accepted: Status.voided},
    Action.dispatch: {
        Status.accepted: Status.dispatched,
        Status.returned: Status.dispatched,
        Status.reopened: Status.dispatched,
    },
    Action.reassign: {Status.dispatched: Status.dispatched, Status.in_progress: Status.dispatched},
    Action.claim: {Status.dispatched: Status.in_progress},
    Action.return_: {Status.dispatched: Status.returned},
    Action.resolve: {Status.in_progress: Status.resolved},
    Action.escalate: {Status.in_progress: Status.escalated},
    Action.verify: {Status.resolved: Status.closed},
    Action.rework: {Status.resolved: Status.in_progress},
    Action.suspend: {s: Status.suspended for s in OPEN},
    Action.resume: {Status.suspended: Status.suspended},
    Action.reopen: {Status.closed: Status.reopened},
    Action.rate: {Status.closed: Status.closed},
    Action.merge: {Status.reported: Status.merged, Status.accepted: Status.merged},
    # the status stays; the case moves to its grid (and its handling level's time limits)
    Action.locate: {s: s for s in OPEN},
}

#: Actions whose body must carry a reason.
NEEDS_REASON = frozenset(
    {
        Action.reject,
        Action.void,
        Action.return_,
        Action.escalate,
        Action.rework,
        Action.suspend,
        Action.reopen,
        Action.locate,
    }
)

#: Timeline entries of these actions are shown to the reporter; the others are internal.
PUBLIC_ACTIONS = frozenset(
    {
        Action.accept,
        Action.reject,
        Action.void,
        Action.dispatch,
        Action.claim,
        Action.resolve,
        Action.verify,
        Action.reopen,
        Action.rate,
        Action.merge,
    }
)

#: The outbox event type of each action.
EVENT_TYPES: dict[Action, str] = {
    Action.accept: "case.accepted",
    Action.reject: "case.rejected",
    Action.void: "case.voided",
    Action.dispatch: "case.dispatched",
    Action.reassign: "case.reassigned",
    Action.claim: "case.claimed",
    Action.return_: "case.returned",
    Action.resolve: "case.resolved",
    Action.escalate: "case.escalated",
    Action.verify: "case.closed",
    Action.rework: "case.rework",
    Action.suspend: "case.suspended",
    Action.resume: "case.resumed",
    Action.reopen: "case.reopened",
    Action.rate: "case.rated",
    Action.merge: "case.merged",
    Action.locate: "case.located",
}


def next_status(action: Action, current: Status) -> Status | None:
    return TRANSITIONS[action].get(current)


def actions_from(current: Status) -> list[str]:
    """Every action the table allows from ``current`` (whoever the actor is)."""
    return [a.value for a, table in TRANSITIONS.items() if current in table]


def is_major(case: Case) -> bool:
    """重大/突发: flagged major, or filed under an urgent-handling (急办) category."""
    return bool(case.major) or case.handling_class == "urgent"

"""The mediation procedure as data: three transition tables and what each action needs.

人民调解法 and 人民调解工作若干规定: accept (受理) or refuse (不予受理); mediators; sessions with
a record (调解笔录); an agreement (调解协议书) or none — then up the levels
(小事不出村、大事不出乡、难事市终结), to a department (administrative mediation) or advice to
go to court; judicial confirmation (司法确认) within 30 days; return visits (回访) on performance.

``STEPS[action]`` says which *track* the action moves (the dispute's status, its judicial
confirmation, or one agreement term's performance), ``moves[from] = to`` on that track, and the
body fields the action needs. An action missing for the current state is a 409
``illegal_mediation_transition``; a missing field is a 422 naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    registered = "registered"  # 登记
    accepted = "accepted"  # 受理 (at the current level)
    refused = "refused"  # 不予受理
    mediating = "mediating"  # 调解中
    agreed = "agreed"  # 达成协议, awaiting performance
    failed = "failed"  # 调解不成 at the current level
    referred_department = "referred_department"  # 转行政调解
    advised_court = "advised_court"  # 告知诉讼
    performed = "performed"  # 协议履行完毕


class Judicial(StrEnum):
    none = "none"
    applied = "applied"  # 已申请司法确认
    confirmed = "confirmed"  # 已确认
    refused = "refused"  # 不予确认


class Performance(StrEnum):
    pending = "pending"  # 待履行
    performed = "performed"  # 已履行
    not_performed = "not_performed"  # 未履行
    urged = "urged"  # 已督促


class Track(StrEnum):
    dispute = "dispute"
    judicial = "judicial"
    term = "term"


class MediationAction(StrEnum):
    accept = "accept"
    refuse = "refuse"
    assign = "assign"
    schedule_session = "schedule_session"
    record_session = "record_session"
    extend = "extend"
    agree = "agree"
    fail = "fail"
    refer_up = "refer_up"
    refer_department = "refer_department"
    advise_court = "advise_court"
    apply_confirmation = "apply_confirmation"
    confirm = "confirm"
    refuse_confirmation = "refuse_confirmation"
    visit_performed = "visit_performed"
    visit_not_performed = "visit_not_performed"
    urge = "urge"


#: Who may take an action: ``coordinator`` (dispatchers, grid leaders and admins over the
#: level that handles the dispute) or ``mediator`` (the mediators assigned, and coordinators).
COORDINATOR = "coordinator"
MEDIATOR = "mediator"


@dataclass(frozen=True)
class Step:
    track: Track
    moves: dict[str, str]
    needs: tuple[str, ...] = ()
    by: str = COORDINATOR
    event: str = ""
    title: tuple[str, str] = ("", "")
    extra: dict[str, str] = field(default_factory=dict)


S, J, P = Status, Judicial, Performance

STEPS: dict[MediationAction, Step] = {
    MediationAction.accept: Step(
        Track.dispute, {S.registered: S.accepted}, title=("受理调解", "accepted for mediation")
    ),
    MediationAction.refuse: Step(
        Track.dispute,
        {S.registered: S.refused},
        needs=("reason",),
        title=("不予受理", "refused for mediation"),
    ),
    MediationAction.assign: Step(
        Track.dispute,
        {S.accepted: S.mediating, S.mediating: S.mediating},
        needs=("member_ids",),
        title=("指派调解员", "mediators assigned"),
    ),
    MediationAction.schedule_session: Step(
        Track.dispute,
        {S.mediating: S.mediating},
        needs=("session",),
        by=MEDIATOR,
        title=("安排调解", "session scheduled"),
    ),
    MediationAction.record_session: Step(
        Track.dispute,
        {S.mediating: S.mediating},
        needs=("session_number", "record"),
        by=MEDIATOR,
        title=("调解笔录", "session record"),
    ),
    MediationAction.extend: Step(
        Track.dispute,
        {S.mediating: S.mediating},
        needs=("days", "consents", "reason"),
        by=MEDIATOR,
        title=("延长调解期限", "time limit extended"),
    ),
    MediationAction.agree: Step(
        Track.dispute,
        {S.mediating: S.agreed},
        needs=("terms", "responsibility"),
        by=MEDIATOR,
        title=("达成调解协议", "agreement reached"),
    ),
    MediationAction.fail: Step(
        Track.dispute,
        {S.mediating: S.failed},
        needs=("reason",),
        by=MEDIATOR,
        title=("调解不成", "no agreement"),
    ),
    MediationAction.refer_up: Step(
        Track.dispute,
        {S.failed: S.accepted},
        needs=("reason",),
        title=("移交上级调处", "referred up a level"),
    ),
    MediationAction.refer_department: Step(
        Track.dispute,
        {S.failed: S.referred_department},
        needs=("department_id", "reason"),
        title=("转行政调解", "referred to a department"),
    ),
    MediationAction.advise_court: Step(
        Track.dispute,
        {S.failed: S.advised_court, S.agreed: S.advised_court},
        needs=("reason",),
        title=("告知诉讼", "advised to go to court"),
    ),
    MediationAction.apply_confirmation: Step(
        Track.judicial,
        {J.none: J.applied},
        needs=("court",),
        title=("申请司法确认", "judicial confirmation applied for"),
    ),
    MediationAction.confirm: Step(
        Track.judicial, {J.applied: J.confirmed}, title=("司法确认", "judicially confirmed")
    ),
    MediationAction.refuse_confirmation: Step(
        Track.judicial,
        {J.applied: J.refused},
        needs=("reason",),
        title=("不予司法确认", "judicial confirmation refused"),
    ),
    MediationAction.visit_performed: Step(
        Track.term,
        {P.pending: P.performed, P.not_performed: P.performed, P.urged: P.performed},
        needs=("term_id",),
        by=MEDIATOR,
        title=("回访：已履行", "return visit: performed"),
    ),
    MediationAction.visit_not_performed: Step(
        Track.term,
        {P.pending: P.not_performed, P.urged: P.not_performed},
        needs=("term_id", "note"),
        by=MEDIATOR,
        title=("回访：未履行", "return visit: not performed"),
    ),
    MediationAction.urge: Step(
        Track.term,
        {P.not_performed: P.urged},
        needs=("term_id", "note"),
        by=MEDIATOR,
        title=("督促履行", "performance urged"),
    ),
}

#: the dispute's status the term and judicial tracks need
TRACK_NEEDS_STATUS = {Track.judicial: {S.agreed, S.performed}, Track.term: {S.agreed}}

#: Levels of people's mediation, bottom up: 小事不出村、大事不出乡、难事市终结.
LEVELS = ("community", "street", "city")
LEVEL_TITLES = {
    "community": "社区（村）人民调解委员会",
    "street": "街道（乡镇）矛盾纠纷调处中心",
    "city": "市矛盾纠纷调处中心",
}

OPEN = frozenset({S.registered, S.accepted, S.mediating, S.failed})
FINAL = frozenset({S.refused, S.referred_department, S.advised_court, S.performed})

RISK_LEVELS = ("general", "serious", "major")  # 一般 / 较大 / 重大
RISK_TITLES = {"general": "一般", "serious": "较大", "major": "重大"}

STATUS_TITLES = {
    S.registered: "已登记",
    S.accepted: "已受理",
    S.refused: "不予受理",
    S.mediating: "调解中",
    S.agreed: "已达成协议",
    S.failed: "调解不成",
    S.referred_department: "已转行政调解",
    S.advised_court: "已告知诉讼",
    S.performed: "已履行",
}


def state_of(track: Track, *, status: str, judicial: str, performance: str | None) -> str | None:
    if track is Track.dispute:
        return status
    if track is Track.judicial:
        return judicial
    return performance


def allowed(status: str, judicial: str, performances: list[str]) -> list[str]:
    """Every action some state of the file allows now (whoever the actor is)."""
    out = []
    for action, step in STEPS.items():
        need = TRACK_NEEDS_STATUS.get(step.track)
        if need is not None and status not in need:
            continue
        if step.track is Track.dispute:
            ok = status in step.moves
        elif step.track is Track.judicial:
            ok = judicial in step.moves
        else:
            ok = any(p in step.moves for p in performances)
        if ok:
            out.append(action.value)
    return out

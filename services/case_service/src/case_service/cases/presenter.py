"""Turn rows into what a caller may see: masking of the reporter, public-only timelines."""

from __future__ import annotations

from case_service.cases import access
from case_service.cases.models import Case, CaseAssignment, TimelineEntry
from case_service.cases.schemas import (
    AreaRead,
    AssignmentRead,
    CaseRead,
    CategoryRef,
    LocationRead,
    LocationStatus,
    ReporterRead,
    TimelineRead,
)
from case_service.privacy import service as privacy
from shared.auth import Principal, Role


def reporter_read(
    principal: Principal, case: Case, rows: list[CaseAssignment], *, reveal: bool = False
) -> ReporterRead:
    """The reporter as the caller may see them: in clear to the reporter and to who filed it
    for them; hidden entirely on an anonymous report; masked to every other role, unless the
    caller asked ``reveal`` (checked and audited by the route)."""
    if privacy.is_own(principal, case):
        shown = privacy.view(case, clear=True)
        account_id = case.reporter_account_id
    elif case.anonymous:
        return ReporterRead(
            account_id=None,
            name=None,
            phone=None,
            anonymous=True,
            masked=True,
            on_behalf=case.on_behalf,
        )
    else:
        shown = privacy.view(case, clear=reveal)
        account_id = (
            case.reporter_account_id if access.sees_reporter(principal, case, rows) else None
        )
    return ReporterRead(
        account_id=account_id,
        name=shown.name,
        phone=shown.phone,
        anonymous=case.anonymous,
        masked=shown.masked,
        on_behalf=case.on_behalf,
    )


def case_read(
    principal: Principal, case: Case, rows: list[CaseAssignment], *, reveal: bool = False
) -> CaseRead:
    reporter = reporter_read(principal, case, rows, reveal=reveal)
    return CaseRead(
        id=case.id,
        case_number=case.case_number,
        version=case.version,
        status=case.status,
        category=CategoryRef(id=case.category_id, code=case.category_code, name=case.category_name),
        kind=case.kind,
        routing=case.routing,
        handling_class=case.handling_class,
        priority=case.priority,
        major=case.major,
        requested_priority=case.requested_priority,
        requested_major=case.requested_major,
        title=case.title,
        description=case.description,
        attributes=case.attributes,
        channel=case.channel,
        source=case.source,
        external_id=case.external_id,
        occurred_at=case.occurred_at,
        location=LocationRead(
            lat=case.lat, lng=case.lng, address=case.address, address_id=case.address_id
        ),
        location_status=LocationStatus(case.location_status),
        area=AreaRead(
            id=case.area_id, code=case.area_code, name=case.area_name, path=case.area_path
        ),
        handling_area_path=case.handling_area_path,
        handling_level=case.handling_level,
        reporter=reporter,
        assignments=[AssignmentRead.model_validate(a) for a in rows],
        department_ids=list(case.department_ids),
        result=case.result,
        public_reply=case.public_reply,
        self_handled=case.self_handled,
        rating=case.rating,
        merged_into_id=case.merged_into_id,
        supporter_count=case.supporter_count,
        support_count=case.support_count,
        due_at=case.due_at,
        created_at=case.created_at,
        updated_at=case.updated_at,
        resolved_at=case.resolved_at,
        closed_at=case.closed_at,
        allowed_actions=access.allowed_actions(principal, case, rows),
    )


def resident_only(principal: Principal) -> bool:
    return principal.has_role(Role.resident) and not principal.has_role(
        Role.grid_worker,
        Role.grid_leader,
        Role.dispatcher,
        Role.department_handler,
        Role.supervisor,
        Role.admin,
    )


def hidden_actors(principal: Principal, case: Case, rows: list[CaseAssignment]) -> set[str]:
    """Accounts whose id the caller must not see on the timeline: the reporter, to whoever
    sees the reporter masked (an anonymous report must not leak through who filed it)."""
    if access.sees_reporter(principal, case, rows):
        return set()
    return {a for a in (case.reporter_account_id, case.reported_by_account_id) if a} - {
        principal.subject
    }


def timeline_read(
    principal: Principal, entry: TimelineEntry, *, hidden: set[str] | None = None
) -> TimelineRead:
    read = TimelineRead.model_validate(entry)
    if resident_only(principal) and entry.actor_id != principal.subject:
        read.actor_id = None  # residents see the role that acted, not the staff account
    if hidden and entry.actor_id in hidden:
        read.actor_id = None
    return read

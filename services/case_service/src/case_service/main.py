"""case_service: categories, cases and their lifecycle, time limits, supervision, evaluation,
statistics and Open311."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import FastAPI

from case_service.attachments.routes import router as attachments_router
from case_service.attachments.storage import build_storage
from case_service.cases.routes import router as cases_router
from case_service.categories.routes import router as categories_router
from case_service.clients.grid import GridClient, MemberDirectory
from case_service.clients.grid_index import SnapshotLocator
from case_service.clients.notify import NotifyClient
from case_service.config import ALEMBIC_INI, DATABASE_NAME, Settings, get_settings
from case_service.evaluations.routes import router as evaluations_router
from case_service.mediation import monthly as mediation_monthly
from case_service.mediation import notices as mediation_notices
from case_service.mediation import screening as mediation_screening
from case_service.mediation import service as mediation
from case_service.mediation.routes import router as mediation_router
from case_service.mediation.routes import templates_router as mediation_templates_router
from case_service.mediation.screening_routes import router as screening_router
from case_service.mediation.workers import ScreeningWorker
from case_service.open311.formats import Open311Error, open311_error_handler
from case_service.open311.routes import router as open311_router
from case_service.open311.service import ApiKeys
from case_service.outbox.relay import OutboxRelay
from case_service.outbox.responsible import grid_resolver
from case_service.privacy import service as privacy
from case_service.privacy.routes import router as privacy_router
from case_service.sla.calendar import parse_periods
from case_service.sla.flows import escalator
from case_service.sla.routes import router as sla_router
from case_service.sla.service import configure_working_hours
from case_service.sla.timers import TimerWorker
from case_service.stats.rollup import RollupWorker
from case_service.stats.routes import router as stats_router
from case_service.system.routes import router as system_router
from case_service.webhooks.routes import router as webhooks_router
from case_service.webhooks.service import WebhookWorker
from case_service.workorders.routes import router as workorders_router
from shared.app import ServiceSpec, create_service_app
from shared.http import ServiceClient
from shared.metrics import OUTBOX_OLDEST, OUTBOX_PENDING
from shared.oauth import ClientCredentials

DESCRIPTION = """
The case service of Gridgov: residents' reports and requests (诉求/事件), their acceptance,
dispatch, handling, escalation, supervision and closure within official time limits.

Authenticate with a bearer token from grid_service `POST /api/v1/auth/token`.
Errors are `application/problem+json` (RFC 9457) with a stable `code`.
"""


def _startup(settings: Settings):  # type: ignore[no-untyped-def]
    async def on_startup(app: FastAPI) -> None:
        # This service's own platform client at grid_service: its tokens verify Open311
        # api_keys, match addresses, ask who is responsible for overdue cases, and post events
        # to notify_service (unless CASE_NOTIFY_CLIENT_ID names another client for that).
        app.state.grid_credentials = ClientCredentials(
            ServiceClient(
                settings.grid_service_url,
                name="grid_service_auth",
                timeout=settings.http_timeout_seconds,
                retries=settings.http_retries,
            ),
            client_id=settings.grid_client_id,
            client_secret=settings.grid_client_secret.get_secret_value(),
        )
        # Point location in process from this replica's copy of grid_service's area index
        # (loaded in the background; until then, or switched off, over HTTP). Its own client:
        # the snapshot is megabytes, so a longer timeout than the small calls'.
        app.state.snapshot_locator = None
        if settings.locate_in_process:
            app.state.snapshot_locator = SnapshotLocator(
                app.state.grid_credentials.sharing_token(
                    ServiceClient(
                        settings.grid_service_url,
                        name="grid_service_snapshot",
                        timeout=max(settings.http_timeout_seconds, 30.0),
                        retries=settings.http_retries,
                    )
                ),
                check_interval=settings.locate_snapshot_check_seconds,
            )
            app.state.snapshot_locator.start()
        # Point location (public) and, with the credentials above, address matching and
        # standard-address lookups (intake by address alone, the locate action).
        app.state.grid_client = GridClient(
            ServiceClient(
                settings.grid_service_url,
                name="grid_service",
                timeout=settings.http_timeout_seconds,
                retries=settings.http_retries,
            ),
            credentials=app.state.grid_credentials,
            locator=app.state.snapshot_locator,
        )
        app.state.member_directory = MemberDirectory(app.state.grid_credentials)
        credentials = app.state.grid_credentials
        if settings.notify_client_id and settings.notify_client_secret:
            credentials = ClientCredentials(
                ServiceClient(
                    settings.grid_service_url,
                    name="grid_service_auth",
                    timeout=settings.http_timeout_seconds,
                    retries=settings.http_retries,
                ),
                client_id=settings.notify_client_id,
                client_secret=settings.notify_client_secret.get_secret_value(),
                scope="events:write",
            )
        elif settings.notify_token:
            credentials = None
        app.state.notify_client = NotifyClient(
            ServiceClient(
                settings.notify_service_url,
                name="notify_service",
                timeout=settings.http_timeout_seconds,
                retries=settings.http_retries,
            ),
            credentials=credentials,
            static_token=(
                settings.notify_token.get_secret_value() if settings.notify_token else None
            ),
        )
        app.state.open311_keys = ApiKeys(app.state.grid_credentials)
        app.state.storage = build_storage(settings)
        app.state.relay = OutboxRelay(
            app.state.sessionmaker,
            app.state.notify_client,
            poll_seconds=settings.relay_poll_seconds,
            batch=settings.relay_batch,
            resolve=grid_resolver(app.state.grid_credentials),
        )
        if settings.relay_enabled:
            app.state.relay.start()
        configure_working_hours(
            parse_periods(settings.working_hours), ZoneInfo(settings.working_timezone)
        )
        app.state.webhook_worker = WebhookWorker(
            app.state.sessionmaker,
            master_key=settings.webhook_signing_key.get_secret_value(),
            timeout_seconds=settings.webhook_timeout_seconds,
        )
        if settings.webhook_enabled:
            app.state.webhook_worker.start()
        app.state.timer_worker = TimerWorker(
            app.state.sessionmaker,
            poll_seconds=settings.timer_poll_seconds,
            batch=settings.timer_batch,
            escalate=escalator(settings),
        )
        if settings.timer_enabled:
            app.state.timer_worker.start()
        app.state.reporter_erasure = privacy.ErasureWorker(
            app.state.sessionmaker,
            retention_days=settings.reporter_phone_retention_days,
            poll_seconds=settings.reporter_erasure_poll_seconds,
        )
        if settings.reporter_erasure_enabled:
            app.state.reporter_erasure.start()
        # dispute screening: grids read from grid_service (public), reminders and the monthly
        # report swept by every replica, their notices relayed to notify_service's
        # /notifications with this service's platform client (scope notifications:write)
        app.state.grid_source = mediation_screening.GridSource(app.state.grid_client.http)
        app.state.mediation_sweep = ScreeningWorker(
            app.state.sessionmaker,
            app.state.grid_source,
            poll_seconds=settings.mediation_sweep_poll_seconds,
        )
        if settings.mediation_sweep_enabled:
            app.state.mediation_sweep.start()
        app.state.notice_relay = mediation_notices.NoticeRelay(
            app.state.sessionmaker,
            mediation_notices.GridDirectory(app.state.grid_credentials),
            mediation_notices.notify_poster(
                app.state.notify_client.http, app.state.grid_credentials
            ),
            poll_seconds=settings.mediation_notice_poll_seconds,
        )
        if settings.relay_enabled:
            app.state.notice_relay.start()
        app.state.stats_rollup = RollupWorker(
            app.state.sessionmaker, settings, poll_seconds=settings.stats_rollup_poll_seconds
        )
        if settings.stats_rollup_enabled:
            app.state.stats_rollup.start()

    return on_startup


async def _shutdown(app: FastAPI) -> None:
    for loop in ("mediation_sweep", "notice_relay"):
        worker = getattr(app.state, loop, None)
        if worker is not None:
            await worker.stop()
    hooks: WebhookWorker | None = getattr(app.state, "webhook_worker", None)
    if hooks is not None:
        await hooks.stop()
    rollup: RollupWorker | None = getattr(app.state, "stats_rollup", None)
    if rollup is not None:
        await rollup.stop()
    erasure: privacy.ErasureWorker | None = getattr(app.state, "reporter_erasure", None)
    if erasure is not None:
        await erasure.stop()
    timers: TimerWorker | None = getattr(app.state, "timer_worker", None)
    if timers is not None:
        await timers.stop()
    relay: OutboxRelay | None = getattr(app.state, "relay", None)
    if relay is not None:
        await relay.stop()
    locator: SnapshotLocator | None = getattr(app.state, "snapshot_locator", None)
    if locator is not None:
        await locator.stop()
        await locator.credentials.aclose()
    for name in ("grid_client", "notify_client", "grid_credentials"):
        client = getattr(app.state, name, None)
        if client is not None:
            await client.aclose()


async def _outbox_gauges(app: FastAPI) -> None:
    """The event outbox's backlog for /metrics (alert: outbox lag, deploy/prometheus)."""
    async with app.state.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
                    " FROM outbox_event WHERE relayed_at IS NULL"
                )
            )
        ).one()
    OUTBOX_PENDING.labels(service="case_service").set(int(row[0]))
    OUTBOX_OLDEST.labels(service="case_service").set(float(row[1]))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    privacy.configure(settings)
    mediation.configure(
        major_people_threshold=settings.mediation_major_people,
        major_departments=settings.mediation_major_departments,
    )
    mediation_screening.configure(
        period=settings.mediation_screening_period,
        deadline_workdays=settings.mediation_screening_deadline_workdays,
    )
    mediation_monthly.configure(levels=tuple(settings.mediation_report_levels))
    return create_service_app(
        ServiceSpec(
            name="case_service",
            title="Gridgov case_service",
            description=DESCRIPTION,
            settings=settings,
            alembic_ini=ALEMBIC_INI,
            database_name=DATABASE_NAME,
            routers=[
                system_router,
                categories_router,
                cases_router,
                privacy_router,
                attachments_router,
                sla_router,
                open311_router,
                webhooks_router,
                workorders_router,
                evaluations_router,
                mediation_router,
                mediation_templates_router,
                screening_router,
                stats_router,
            ],
            openapi_tags=[
                {"name": "cases", "description": "intake, lifecycle, timeline (事件/诉求)"},
                {"name": "categories", "description": "the category catalogue (事项目录)"},
                {"name": "attachments", "description": "photos, video, documents"},
                {
                    "name": "time limits",
                    "description": "deadlines on the working calendar, extensions (延期), "
                    "supervision (催办/督办)",
                },
                {
                    "name": "open311",
                    "description": "Open311 GeoReport v2 (JSON and XML) for other platforms",
                },
                {"name": "webhooks", "description": "signed event deliveries to platforms"},
                {"name": "work orders", "description": "12345-style work-order exchange (工单)"},
                {
                    "name": "evaluation",
                    "description": "residents' ratings (评价), reopen requests (差评整改), "
                    "return visits (回访)",
                },
                {
                    "name": "mediation",
                    "description": "dispute mediation (矛盾纠纷调处): the file, parties, "
                    "mediators, sessions, agreement, judicial confirmation, return visits",
                },
                {
                    "name": "statistics",
                    "description": "indicators, rankings, negative list, heat map, exports",
                },
                {"name": "system", "description": "token check"},
                {"name": "operations", "description": "health, readiness and metrics"},
            ],
            on_startup=_startup(settings),
            on_shutdown=_shutdown,
            metrics_hook=_outbox_gauges,
            configure=lambda app: app.add_exception_handler(Open311Error, open311_error_handler),
            large_body_bytes=settings.upload_max_bytes,
            large_body_markers=("/api/v1/attachments",),
        )
    )

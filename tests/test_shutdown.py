"""SIGTERM and SIGKILL against running services.

* SIGTERM with a request in flight: the request gets its full answer, new connections are
  refused, the process exits 0.
* SIGTERM while notify_service's delivery worker holds a claimed batch: the batch is finished
  and recorded before the exit; after the restart every message has been sent exactly once.
* SIGKILL in the middle of the same: the claims expire, the provider's query API settles the
  sends that were in flight (delivered, not sent again), the rest go out once.

The SMS provider is a fake Alibaba Cloud endpoint served from the test: it takes each SendSms,
records it, answers slowly, and answers QuerySendDetails from what it recorded.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import httpx
import pytest
import pytest_asyncio

from tests.helpers import eventually, login, platform_client, query, report_body
from tests.system import ServiceProcess, System


async def test_sigterm_finishes_the_request_in_flight(system: System) -> None:
    resident = await login(system, "resident")
    dispatcher = await login(system, "dispatcher")
    case = system["case"]
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            case.url + "/api/v1/cases", json=report_body(), headers=resident.headers
        )
        case_id = r.json()["id"]
    dsn = system.database_urls["case"].replace("postgresql+asyncpg://", "postgresql://")
    lock = await asyncpg.connect(dsn)
    tx = lock.transaction()
    await tx.start()
    await lock.execute('SELECT 1 FROM "case" WHERE id = $1 FOR UPDATE', uuid.UUID(case_id))
    client = httpx.AsyncClient(timeout=60)
    try:
        in_flight = asyncio.create_task(
            client.post(
                f"{case.url}/api/v1/cases/{case_id}/actions/accept",
                json={},
                headers=dispatcher.headers,
            )
        )

        async def waiting_on_our_lock() -> bool:
            rows = await lock.fetch(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND application_name = 'case_service'"
            )
            return bool(rows)

        await eventually(waiting_on_our_lock, timeout=20, what="accept waiting on the row lock")
        assert case.proc is not None
        case.proc.send_signal(signal.SIGTERM)

        async def refused() -> bool:
            try:
                async with httpx.AsyncClient(timeout=2) as other:
                    await other.get(case.url + "/healthz")
            except httpx.ConnectError:
                return True
            return False

        await eventually(refused, timeout=10, what="new connections refused")
        assert not in_flight.done()
        await tx.rollback()  # let the held request go on
        response = await in_flight
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "accepted"
        code = await asyncio.to_thread(case.proc.wait, 25)
        assert code == 0, case.tail()
    finally:
        await lock.close()
        await client.aclose()
        if case.proc is not None and case.proc.poll() is None:
            case.kill()
        case.start()
        await case.wait_ready(timeout=120)
    rows = await query(
        system, "case", 'SELECT status FROM "case" WHERE id = $1', uuid.UUID(case_id)
    )
    assert rows[0]["status"] == "accepted"


class FakeAliyun:
    """SendSms recorded on arrival and answered after ``delay``; QuerySendDetails from the
    record (every message it took counts as delivered)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sends: list[str] = []  # OutId of every SendSms received
        # a SendSms whose TemplateParam holds this text is never answered (its caller is to
        # die with it in flight: answering after `delay` would race the kill on a loaded
        # machine); other messages — e.g. earlier tests' SMS deferred by the caps — are answered
        self.hold: str | None = None
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                form = {
                    k: v[0]
                    for k, v in parse_qs((await reader.readexactly(length)).decode()).items()
                }
                answer = await self._answer(form)
                body = json.dumps(answer).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("Action") == "SendSms":
            self.sends.append(form["OutId"])
            if self.hold is not None and self.hold in form.get("TemplateParam", ""):
                await asyncio.Event().wait()  # until the caller's connection goes
            await asyncio.sleep(self.delay)
            return {"Code": "OK", "Message": "OK", "BizId": f"biz-{form['OutId']}"}
        details = [
            {"OutId": out_id, "SendStatus": 3, "ErrCode": "DELIVERED"}
            for out_id in dict.fromkeys(self.sends)
        ]
        return {"Code": "OK", "SmsSendDetailDTOs": {"SmsSendDetailDTO": details}}


@pytest_asyncio.fixture
async def fake_sms(system: System) -> AsyncIterator[FakeAliyun]:
    """notify_service restarted to send SMS through the fake provider (short claim lease and
    receipt wait, small batches), and restored afterwards."""
    fake = FakeAliyun(delay=1.5)
    await fake.start()
    notify = system["notify"]
    original = dict(notify.env)
    notify.stop()
    notify.env = {
        **original,
        "NOTIFY_SMS_PROVIDERS": '["aliyun"]',
        "NOTIFY_ALIYUN_ENDPOINT": f"http://127.0.0.1:{fake.port}",
        "NOTIFY_ALIYUN_ACCESS_KEY_ID": "fake-id",
        "NOTIFY_ALIYUN_ACCESS_KEY_SECRET": "fake-secret",
        "NOTIFY_PROVIDER_TIMEOUT_SECONDS": "2.5",
        "NOTIFY_CLAIM_LEASE_SECONDS": "3",
        "NOTIFY_RECEIPT_WAIT_SECONDS": "1",
        "NOTIFY_WORKER_CONCURRENCY": "1",
        "NOTIFY_WORKER_BATCH_SIZE": "3",
    }
    notify.start()
    try:
        await notify.wait_ready(timeout=120)
        yield fake
    finally:
        notify.stop()
        notify.env = original
        notify.start()
        await notify.wait_ready(timeout=120)
        await fake.close()


async def send_six(system: System, tag: str) -> list[str]:
    # raw phone numbers are for system clients (a person addresses accounts of their areas)
    sender = await platform_client(system, "notifications:write")
    ids = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(6):
            r = await client.post(
                system["notify"].url + "/api/v1/notifications",
                json={
                    "template_key": "case_accepted",
                    "variables": {"case_number": f"{tag}-{i}"},
                    "recipient": {"phone": f"1390{uuid.uuid4().int % 10**7:07d}"},
                    "channels": ["sms"],
                },
                headers={**sender.headers, "Idempotency-Key": f"{tag}-{i}"},
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    return ids


async def outcome(system: System, ids: list[str]) -> dict[str, tuple[str, list[str]]]:
    rows = await query(
        system,
        "notify",
        "SELECT n.id::text AS id, n.status, array_remove(array_agg(e.status || ':' ||"
        " coalesce(e.code, '') ORDER BY e.at), NULL) AS history FROM notification n"
        " LEFT JOIN notification_event e ON e.notification_id = n.id"
        " WHERE n.id = ANY($1::uuid[]) GROUP BY n.id, n.status",
        ids,
    )
    return {r["id"]: (r["status"], list(r["history"])) for r in rows}


async def wait_for_sends(fake: FakeAliyun, ids: list[str], n: int) -> None:
    async def arrived() -> bool:
        return len(set(fake.sends) & set(ids)) >= n

    await eventually(arrived, timeout=30, what=f"{n} sends at the provider")


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
async def test_notify_stopped_mid_batch_sends_each_message_once(
    system: System, fake_sms: FakeAliyun, how: str
) -> None:
    notify: ServiceProcess = system["notify"]
    tag = f"{how}-{uuid.uuid4().hex[:6]}"
    fake_sms.hold = tag if how == "sigkill" else None
    ids = await send_six(system, tag)
    if how == "sigkill":
        # the batch that took the first of ours is at the provider, unanswered (a batch's
        # sends go out together; it may hold messages of earlier tests too, answered at once)
        await wait_for_sends(fake_sms, ids, 1)
        await asyncio.sleep(0.5)
    else:
        await wait_for_sends(fake_sms, ids, 3)  # the first batch is at the provider
    assert notify.proc is not None
    in_flight = set(fake_sms.sends) & set(ids)
    if how == "sigterm":
        notify.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(notify.proc.wait, 30)
        assert code == 0, notify.tail()
        recorded = await outcome(system, ids)
        # the batch was finished and recorded before the exit, not left to expire
        assert {i: recorded[i][0] for i in in_flight} == dict.fromkeys(in_flight, "sent")
    else:
        notify.kill()
        fake_sms.hold = None
        await asyncio.sleep(3.2)  # the claims' lease runs out while the service is down
    notify.start()
    await notify.wait_ready(timeout=120)

    async def settled() -> bool:
        got = await outcome(system, ids)
        return all(status in ("sent", "delivered") for status, _ in got.values())

    try:
        await eventually(settled, timeout=40, what="every message sent or delivered")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {await outcome(system, ids)}") from None
    await asyncio.sleep(1.0)  # a few more worker rounds: nothing may go out again
    sent = Counter(s for s in fake_sms.sends if s in ids)
    assert sent == Counter(dict.fromkeys(ids, 1))  # each message reached the provider once
    final = await outcome(system, ids)
    for i in ids:
        status, history = final[i]
        if how == "sigkill" and i in in_flight:
            # the send was in flight when the process died: its claim expired, the query API
            # found it at the provider, and it was recorded as delivered without a resend
            assert status == "delivered", history
            assert "unconfirmed:claim_expired" in history, history
            assert "delivered:DELIVERED" in history, history
        else:
            assert status == "sent", history
            assert not any("claim_expired" in h for h in history), history

"""CSV and XLSX exports, streamed.

CSV is written row by row as the rows come (UTF-8 with a BOM, so Excel reads the Chinese). XLSX
is built by openpyxl's write-only workbook — rows go straight to a temporary file, nothing is
held in memory — in a worker thread, then the file is streamed in chunks and removed. Case
exports read the database through a server-side cursor in a session of their own (the
request's transaction has committed by the time the body is sent).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi.responses import StreamingResponse
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.cases.models import Case
from case_service.stats.schemas import INDICATORS, Format, IndicatorRow

CHUNK = 64 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CASE_COLUMNS = (
    "case_number",
    "status",
    "category_code",
    "category_name",
    "kind",
    "priority",
    "channel",
    "area_path",
    "area_name",
    "handling_area_path",
    "department_ids",
    "self_handled",
    "rating",
    "created_at",
    "resolved_at",
    "closed_at",
    "due_at",
)
CASE_BATCH = 1000


def indicator_header() -> list[str]:
    header = ["key"]
    for i in INDICATORS:
        header.append(i.name)
        if i.denominator is not None:
            header += [f"{i.name}_denominator", f"{i.name}_rate"]
    return [*header, "handling_resolved", "handling_hours_average", "handling_hours_p90"]


def indicator_cells(row: IndicatorRow) -> list[Any]:
    cells: list[Any] = [row.key]
    for i in INDICATORS:
        fig = row.indicators[i.name]
        cells.append(fig.numerator)
        if i.denominator is not None:
            cells += [fig.denominator, fig.rate]
    h = row.handling_hours
    return [*cells, h["resolved"], h["average"], h["p90"]]


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


def _csv_line(cells: Sequence[Any]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerow(["" if c is None else _cell(c) for c in cells])
    return buf.getvalue().encode()


async def _csv(header: Sequence[str], rows: AsyncIterator[Sequence[Any]]) -> AsyncIterator[bytes]:
    yield "\ufeff".encode() + _csv_line(header)
    async for row in rows:
        yield _csv_line(row)


class _Sheet:
    """An openpyxl write-only workbook on a temporary file; every call runs in a thread."""

    def __init__(self, title: str) -> None:
        self.wb = Workbook(write_only=True)
        self.ws = self.wb.create_sheet(title=title[:31])
        fd, self.path = tempfile.mkstemp(suffix=".xlsx")
        os.close(fd)

    def append(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.ws.append([_cell(c) for c in row])

    def save(self) -> None:
        self.wb.save(self.path)


async def _xlsx(
    title: str, header: Sequence[str], batches: AsyncIterator[list[Sequence[Any]]]
) -> AsyncIterator[bytes]:
    sheet = await asyncio.to_thread(_Sheet, title)
    try:
        await asyncio.to_thread(sheet.append, [header])
        async for batch in batches:
            await asyncio.to_thread(sheet.append, batch)
        await asyncio.to_thread(sheet.save)
        with open(sheet.path, "rb") as fh:  # noqa: ASYNC230 - reads run in a thread below
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                yield chunk
    finally:
        await asyncio.to_thread(os.unlink, sheet.path)


def _response(body: AsyncIterator[bytes], fmt: Format, name: str) -> StreamingResponse:
    media = "text/csv; charset=utf-8" if fmt is Format.csv else XLSX
    return StreamingResponse(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt.value}"'},
    )


def table_response(
    header: Sequence[str], rows: Sequence[Sequence[Any]], fmt: Format, name: str
) -> StreamingResponse:
    """An indicator table (already computed: a few hundred rows at most) as CSV or XLSX."""

    async def one_by_one() -> AsyncIterator[Sequence[Any]]:
        for r in rows:
            yield r

    async def in_batches() -> AsyncIterator[list[Sequence[Any]]]:
        yield list(rows)

    if fmt is Format.csv:
        return _response(_csv(header, one_by_one()), fmt, name)
    return _response(_xlsx(name, header, in_batches()), fmt, name)


async def _case_batches(
    maker: async_sessionmaker[AsyncSession], stmt: sa.Select[Any]
) -> AsyncIterator[list[Sequence[Any]]]:
    async with maker() as session, session.begin():
        await session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
        result = await session.stream(stmt.execution_options(yield_per=CASE_BATCH))
        async for part in result.partitions(CASE_BATCH):
            yield [tuple(r) for r in part]


def cases_response(
    maker: async_sessionmaker[AsyncSession], stmt: sa.Select[Any], fmt: Format
) -> StreamingResponse:
    if fmt is Format.csv:

        async def rows() -> AsyncIterator[Sequence[Any]]:
            async for batch in _case_batches(maker, stmt):
                for r in batch:
                    yield r

        return _response(_csv(CASE_COLUMNS, rows()), fmt, "cases")
    return _response(_xlsx("cases", CASE_COLUMNS, _case_batches(maker, stmt)), fmt, "cases")


def case_columns() -> list[Any]:
    t = Case.__table__.c  # type: ignore[attr-defined]
    return [t[name] for name in CASE_COLUMNS]

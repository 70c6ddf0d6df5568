"""Importing the spreadsheets grid workers fill (XLSX or CSV, Chinese headers).

Parsing is blocking work and runs in a thread. Every row is validated first (ID-number
checksum, phone format, known standard address, duplicates in the file and in the database);
when any row is bad nothing is written and every bad row is reported with its row number (as
the spreadsheet shows it: the header is row 1) and its reason.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.areas.models import Area
from grid_service.basicinfo import idnumbers, repository
from grid_service.basicinfo.models import Household, Resident, StandardAddress
from grid_service.basicinfo.schemas import ImportResult
from grid_service.basicinfo.service import ID_FIELD, PHONE_FIELD, next_visit_due
from grid_service.config import Settings
from grid_service.phones import PHONE_PATTERN
from grid_service.privacy.crypto import PiiCipher, normalise
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import FieldProblem, ValidationFailed

XLSX_MAGIC = b"PK\x03\x04"

#: canonical header → the spellings seen in the sheets workers fill
RESIDENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "姓名": ("姓名",),
    "公民身份号码": ("公民身份号码", "身份证号", "身份证号码", "证件号码"),
    "联系电话": ("联系电话", "手机号", "手机号码", "电话"),
    "性别": ("性别",),
    "出生日期": ("出生日期",),
    "民族": ("民族",),
    "户籍地详址": ("户籍地详址", "户籍地址", "户籍地"),
    "人口类型": ("人口类型", "人员类型"),
    "楼栋": ("楼栋", "楼栋号", "幢"),
    "单元": ("单元", "单元号"),
    "室": ("室", "室号", "房号", "门牌"),
    "户号": ("户号",),
    "与户主关系": ("与户主关系",),
    "现住址": ("现住址", "居住地址", "现居住地址", "住址", "地址"),
}
#: 楼栋/单元/室 match the grid's standard addresses; a row whose address is not (yet) in the
#: register is imported with its free-text address kept for later matching (``现住址``).
RESIDENT_REQUIRED = ("姓名", "公民身份号码")

ADDRESS_COLUMNS: dict[str, tuple[str, ...]] = {
    "街路巷门牌": ("街路巷门牌", "街路巷及门牌号", "街路巷", "门牌地址"),
    "楼栋": ("楼栋", "楼栋号", "幢"),
    "单元": ("单元", "单元号"),
    "室": ("室", "室号", "房号"),
}
ADDRESS_REQUIRED = ("街路巷门牌", "楼栋")

GENDERS = {"男": "male", "女": "female"}
#: GB/T 2261.1: 0 未知的性别, 9 未说明的性别 — the ID number's own gender is taken then
GENDER_LABEL = {"male": "男", "female": "女"}
UNSTATED_GENDERS = {"未知", "未说明", "未知的性别", "未说明的性别"}
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d")
MIGRANT = {
    "户籍人口": "registered",
    "户籍": "registered",
    "流动人口": "migrant",
    "流动": "migrant",
    "境外人员": "overseas",
    "境外": "overseas",
}
RELATIONSHIPS = {
    "户主": "head",
    "本人": "head",
    "配偶": "spouse",
    "妻": "spouse",
    "夫": "spouse",
    "妻子": "spouse",
    "丈夫": "spouse",
    "子": "child",
    "女": "child",
    "儿子": "child",
    "女儿": "child",
    "子女": "child",
    "父亲": "parent",
    "母亲": "parent",
    "父母": "parent",
    "孙子": "grandchild",
    "孙女": "grandchild",
    "祖父": "grandparent",
    "祖母": "grandparent",
    "兄": "sibling",
    "弟": "sibling",
    "姐": "sibling",
    "妹": "sibling",
    "其他": "other",
}
_PHONE = re.compile(PHONE_PATTERN)


@dataclass
class Sheet:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (row number, cells)


class ImportRejected(ValidationFailed):
    code = "import_rejected"
    title = Text("表格未导入", "The spreadsheet was not imported")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse(data: bytes, filename: str | None, *, max_rows: int) -> Sheet:
    """Blocking: read the first sheet of an XLSX, or a CSV (UTF-8, else GB18030)."""
    if data.startswith(XLSX_MAGIC) or (filename or "").lower().endswith(".xlsx"):
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise _file_problem(Text("不是可读取的 XLSX 文件", "not a readable XLSX file")) from exc
        try:
            raw = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        finally:
            book.close()
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError as exc:
                raise _file_problem(
                    Text(
                        "CSV 文件必须是 UTF-8 或 GB18030 编码的文本",
                        "a CSV file must be UTF-8 or GB18030 text",
                    )
                ) from exc
        raw = [list(r) for r in csv.reader(io.StringIO(text))]
    if not raw:
        raise _file_problem(Text("表格为空", "the sheet is empty"))
    header = [_cell(v) for v in raw[0]]
    if any(CONTROL.search(h) for h in header):
        raise _file_problem(
            Text("表头含有不可见的控制字符", "the header row holds a control character")
        )
    rows = []
    for number, values in enumerate(raw[1:], start=2):
        cells = [_cell(v) for v in values]
        if any(cells):
            rows.append((number, cells))
    if not rows:
        raise _file_problem(Text("表格只有表头，没有数据行", "the sheet has a header but no rows"))
    if len(rows) > max_rows:
        raise _file_problem(
            Text(f"每次导入最多 {max_rows} 行", f"at most {max_rows} rows per import")
        )
    return Sheet(header=header, rows=rows)


def _file_problem(reason: Text) -> ValidationFailed:
    return ValidationFailed(
        reason, code="unreadable_spreadsheet", errors=[FieldProblem(field="file", reason=reason)]
    )


def _columns(
    sheet: Sheet, spec: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(sheet.header):
        for canonical, spellings in spec.items():
            if name in spellings and canonical not in found:
                found[canonical] = index
    missing = [c for c in required if c not in found]
    if missing:
        raise ValidationFailed(
            Text(
                "缺少必填列：" + "、".join(missing),
                "Required columns are missing: " + ", ".join(missing),
            ),
            code="import_rejected",
            errors=[
                FieldProblem(field="file", reason=Text(f"缺少列：{c}", f"missing column {c}"))
                for c in missing
            ],
            extra={
                "row_errors": [
                    {"row": 1, "column": c, "reason": Text("缺少此列", "missing column")}
                    for c in missing
                ]
            },
        )
    return found


REQUIRED = Text("必填", "required")


def id_problem(id_number: str) -> Text | None:
    """Why an ID number cell is wrong, said for the person who fills the sheet."""
    if "*" in id_number:
        return Text(
            "身份证号已脱敏（含 *）：请导入完整号码（导出时选择显示完整号码）",
            "the ID number is masked (has *): import the full number (export with reveal)",
        )
    why = idnumbers.problem(id_number)
    if why is None:
        return None
    zh = {
        "an ID number is 17 digits and a check digit or X": (
            "身份证号应为 17 位数字加 1 位校验码（数字或 X）"
        ),
        "the birth date inside the ID number does not exist": "身份证号中的出生日期不存在",
        "the birth date inside the ID number is in the future": "身份证号中的出生日期晚于今天",
        "the check digit does not match (GB 11643)": "校验码不对（GB 11643），请核对号码",
    }.get(why.en, why.zh)
    return Text(zh, why.en)


def _date(value: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    return None


def _get(cells: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    return cells[index] if index is not None and index < len(cells) else ""


class _Errors:
    def __init__(self) -> None:
        self.items: list[tuple[int, str | None, Text]] = []

    def add(self, row: int, column: str | None, reason: Text) -> None:
        self.items.append((row, column, reason))

    def control_characters(self, sheet: Sheet) -> None:
        """Every cell holding a control character (NUL and the like, invisible in the sheet and
        refused by the database) is named by its row and column header."""
        for number, cells in sheet.rows:
            for index, cell in enumerate(cells):
                if CONTROL.search(cell):
                    column = sheet.header[index] if index < len(sheet.header) else None
                    self.add(
                        number,
                        column or f"第{index + 1}列",
                        Text(
                            "含有不可见的控制字符（如 NUL），请删除后再导入",
                            "holds an invisible control character (such as NUL); remove it",
                        ),
                    )

    def raise_if_any(self, rows: int) -> None:
        if not self.items:
            return
        bad_rows = len({r for r, _, _ in self.items})
        raise ImportRejected(
            Text(
                f"{rows} 行中有 {bad_rows} 行有误，全部未导入",
                f"{bad_rows} of {rows} rows are invalid; nothing was imported",
            ),
            errors=[
                FieldProblem(field=f"rows.{r}" + (f".{c}" if c else ""), reason=why)
                for r, c, why in self.items
            ],
            extra={
                "row_errors": [{"row": r, "column": c, "reason": why} for r, c, why in self.items]
            },
        )


def _address_key(building: str, unit: str, room: str) -> tuple[str, str, str]:
    return (building.strip(), unit.strip(), room.strip())


async def import_addresses(session: AsyncSession, area: Area, sheet: Sheet) -> ImportResult:
    columns = _columns(sheet, ADDRESS_COLUMNS, ADDRESS_REQUIRED)
    errors = _Errors()
    errors.control_characters(sheet)
    existing = {
        _address_key(a.building_no, a.unit_no, a.room_no)
        for a in await repository.addresses_in(session, area.id)
    }
    seen: dict[tuple[str, str, str], int] = {}
    new: list[StandardAddress] = []
    for number, cells in sheet.rows:
        street = _get(cells, columns, "街路巷门牌")
        key = _address_key(
            _get(cells, columns, "楼栋"), _get(cells, columns, "单元"), _get(cells, columns, "室")
        )
        if not street:
            errors.add(number, "街路巷门牌", REQUIRED)
        if not key[0]:
            errors.add(number, "楼栋", REQUIRED)
        if any(len(part) > 20 for part in key) or len(street) > 200:
            errors.add(number, None, Text("有值过长", "a value is too long"))
        if key in seen:
            errors.add(
                number,
                None,
                Text(f"与第 {seen[key]} 行的地址相同", f"the same address as row {seen[key]}"),
            )
        elif key in existing:
            errors.add(
                number,
                None,
                Text("本网格已登记这个地址", "this address is already registered in the grid"),
            )
        seen.setdefault(key, number)
        new.append(
            StandardAddress(
                area_id=area.id,
                area_path=area.path,
                street_address=street,
                building_no=key[0],
                unit_no=key[1],
                room_no=key[2],
            )
        )
    errors.raise_if_any(len(sheet.rows))
    session.add_all(new)
    await session.flush()
    return ImportResult(kind="addresses", rows=len(sheet.rows), created=len(new))


async def import_residents(
    session: AsyncSession,
    settings: Settings,
    cipher: PiiCipher,
    area: Area,
    sheet: Sheet,
) -> ImportResult:
    columns = _columns(sheet, RESIDENT_COLUMNS, RESIDENT_REQUIRED)
    errors = _Errors()
    errors.control_characters(sheet)
    addresses = {
        _address_key(a.building_no, a.unit_no, a.room_no): a
        for a in await repository.addresses_in(session, area.id)
    }
    households = await repository.households_in(session, area.id)
    seen_ids: dict[str, int] = {}
    parsed: list[tuple[int, dict[str, Any]]] = []
    for number, cells in sheet.rows:
        value = {name: _get(cells, columns, name) for name in RESIDENT_COLUMNS}
        row: dict[str, Any] = {}
        if not value["姓名"]:
            errors.add(number, "姓名", REQUIRED)
        elif len(value["姓名"]) > 100:
            errors.add(number, "姓名", Text("超过 100 个字", "longer than 100 characters"))
        id_number = normalise(value["公民身份号码"])
        why = id_problem(id_number) if id_number else REQUIRED
        if why:
            errors.add(number, "公民身份号码", why)
        elif id_number in seen_ids:
            errors.add(
                number,
                "公民身份号码",
                Text(
                    f"与第 {seen_ids[id_number]} 行的身份证号相同",
                    f"the same ID number as row {seen_ids[id_number]}",
                ),
            )
        else:
            seen_ids[id_number] = number
            row["birth_on"] = idnumbers.birth_date(id_number)
            row["gender"] = idnumbers.gender(id_number)
        # every cell is checked in this one pass, whatever the ID number's state
        born = _date(value["出生日期"]) if value["出生日期"] else None
        if value["出生日期"] and born is None:
            errors.add(
                number,
                "出生日期",
                Text("不是日期（应写作 1990-01-31）", "not a date (write it as 1990-01-31)"),
            )
        elif born is not None and "birth_on" in row and born != row["birth_on"]:
            errors.add(
                number,
                "出生日期",
                Text(
                    f"与身份证号中的出生日期 {row['birth_on']} 不一致",
                    f"differs from the birth date in the ID number ({row['birth_on']})",
                ),
            )
        gender = value["性别"]
        if gender and gender not in GENDERS and gender not in UNSTATED_GENDERS:
            errors.add(
                number,
                "性别",
                Text(
                    "只能填 男、女、未知 或 未说明",
                    "one of 男, 女, 未知 (unknown) or 未说明 (not stated)",
                ),
            )
        elif gender in GENDERS and "gender" in row and GENDERS[gender] != row["gender"]:
            errors.add(
                number,
                "性别",
                Text(
                    f"与身份证号第 17 位表示的性别（{GENDER_LABEL[row['gender']]}）不一致",
                    "differs from the gender the ID number encodes (its 17th digit)",
                ),
            )
        phone = "".join(value["联系电话"].split())
        if "*" in phone:
            errors.add(
                number,
                "联系电话",
                Text(
                    "联系电话已脱敏（含 *）：请导入完整号码",
                    "the phone number is masked (has *): import the full number",
                ),
            )
        elif phone and not _PHONE.match(phone):
            errors.add(
                number,
                "联系电话",
                Text(
                    "不是手机号码（11 位数字，可加 +86）",
                    "not a phone number (digits, optionally +86)",
                ),
            )
        migrant = MIGRANT.get(value["人口类型"] or "户籍人口")
        if migrant is None:
            errors.add(
                number,
                "人口类型",
                Text(
                    "只能填 户籍人口、流动人口 或 境外人员",
                    "one of 户籍人口, 流动人口, 境外人员",
                ),
            )
        relationship = None
        if value["与户主关系"]:
            relationship = RELATIONSHIPS.get(value["与户主关系"])
            if relationship is None:
                errors.add(
                    number,
                    "与户主关系",
                    Text(
                        "不认识的关系（如 户主、配偶、子女、父母）",
                        "unknown relationship (e.g. 户主, 配偶, 子女, 父母)",
                    ),
                )
        key = _address_key(value["楼栋"], value["单元"], value["室"])
        address = addresses.get(key) if key[0] else None
        address_text = value["现住址"] or None
        if address is None and key[0]:
            label = "".join(
                f"{part}{unit}"
                for part, unit in zip(key, ("栋", "单元", "室"), strict=True)
                if part
            )
            address_text = address_text or label  # kept for matching through the register
        if address_text and len(address_text) > 200:
            errors.add(number, "现住址", Text("超过 200 个字", "longer than 200 characters"))
        row.update(
            name=value["姓名"],
            id_number=id_number,
            phone=phone or None,
            migrant=migrant,
            relationship=relationship,
            address=address,
            address_text=None if address is not None else address_text,
            household_no=value["户号"],
            ethnicity=value["民族"] or None,
            registered_address=value["户籍地详址"] or None,
        )
        parsed.append((number, row))
    hashes = {cipher.lookup_hash(id_number): n for id_number, n in seen_ids.items()}
    for known in await repository.existing_hashes(session, hashes):
        errors.add(
            hashes[known],
            "公民身份号码",
            Text("已登记过这个身份证号的居民", "a resident with this ID number is registered"),
        )
    errors.raise_if_any(len(sheet.rows))

    now = utcnow()
    created_households = 0
    residents: list[Resident] = []
    heads: dict[str, Resident] = {}
    for _number, row in parsed:
        household = None
        if row["household_no"]:
            household = households.get(row["household_no"])
            if household is None:
                household = Household(
                    id=uuid.uuid4(),
                    area_id=area.id,
                    area_path=area.path,
                    household_no=row["household_no"],
                    address_id=row["address"].id if row["address"] else None,
                    created_at=now,
                    next_visit_due_at=now,
                )
                household.next_visit_due_at = next_visit_due(settings, household)
                households[row["household_no"]] = household
                session.add(household)
                created_households += 1
        resident = Resident(
            area_id=area.id,
            area_path=area.path,
            household_id=household.id if household else None,
            relationship_to_head=row["relationship"],
            name=row["name"],
            gender=row["gender"],
            birth_on=row["birth_on"],
            id_number_enc=cipher.encrypt(row["id_number"], field=ID_FIELD),
            id_number_hash=cipher.lookup_hash(row["id_number"]),
            phone_enc=cipher.encrypt(row["phone"], field=PHONE_FIELD) if row["phone"] else None,
            phone_hash=cipher.lookup_hash(row["phone"]) if row["phone"] else None,
            ethnicity=row["ethnicity"],
            registered_address=row["registered_address"],
            current_address_id=row["address"].id if row["address"] else None,
            current_address_text=row["address_text"],
            migrant_status=row["migrant"],
        )
        residents.append(resident)
        if household is not None and row["relationship"] == "head":
            heads[household.household_no] = resident
    await session.flush()  # households first (residents refer to them)
    session.add_all(residents)
    await session.flush()
    for household_no, head in heads.items():
        households[household_no].head_resident_id = head.id
        session.add(households[household_no])
    await session.flush()
    return ImportResult(
        kind="residents",
        rows=len(sheet.rows),
        created=len(residents),
        households=created_households,
        unmatched_addresses=sum(1 for r in residents if r.current_address_text),
    )

"""Normalising Chinese addresses for matching against the standard-address register (一标).

What people say or type varies (DOMAIN.md, standard addresses): prefixes left out or added
("浙江省杭州市西湖区…"), full-width digits and letters ("１２号"), Chinese numerals ("三幢",
"二单元"), 幢/栋/号楼/座 used for one another, "501" for "501室", "3-2-501" for building, unit
and room, spaces and punctuation. :func:`parse` turns any of these into one canonical form,
the same function is applied to the register (stored in ``standard_address``'s key columns
at write time), so matching is an index lookup on equal keys, then a trigram similarity over
``normalized``.

Administrative-division parsing: the PyPI libraries for it (cpca, addressparser and their
forks) ship a 2020-2021 snapshot of the national division list and pull in pandas (and
jieba); their job is recognising *which* province/city/district a text names. Here the
register already lies inside the jurisdiction's own area tree, so only the prefixes have to be
dropped, which the rules below do with the official suffixes of the levels (省/自治区/市/州/
盟/区/县/旗/街道/镇/乡), guarded against the names that end in those characters but are not
divisions (小区, 园区, 景区, 社区 …).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUMBER = "[零〇一二两三四五六七八九十百]+"
#: the positions where a Chinese numeral is a number: 三幢, 二单元, 十二号, 一弄, 五层
_NUMBERED = re.compile(rf"({_CN_NUMBER})(?=(?:号楼|幢|栋|座|单元|号|弄|室|层|楼))")
_PUNCT = re.compile(r"[\s,，.。、·・:：;；'\"“”‘’()（）\[\]【】<>《》/\\_~～!！?？]+")
_PROVINCE = re.compile(r"^[\u4e00-\u9fff]{2,8}?(?:省|自治区|特别行政区)")
_MUNICIPALITY = re.compile(r"^(?:北京|天津|上海|重庆)市?(?=.)")
#: prefix levels below the province, each tried once in order; the guard keeps a name that
#: ends in the level's character but is a place inside it (宝石小区 is not a district)
_LEVELS = (
    re.compile(r"^[\u4e00-\u9fff]{1,6}?(?:自治州|地区|盟|市)"),
    re.compile(r"^[\u4e00-\u9fff]{1,6}?(?:市|自治县|区|县|旗)"),
    re.compile(r"^[\u4e00-\u9fff]{1,6}?(?:街道办事处|街道|镇|乡)"),
)
_NOT_DIVISION = ("小区", "园区", "景区", "校区", "厂区", "营区", "社区", "新区市", "城区街")
_BUILDING_WORDS = re.compile(r"号楼|栋|座|#")
_STREET = re.compile(r"^(?P<street>.*?\d+(?:[a-z])?号)(?!楼)(?P<rest>.*)$")
_TRIPLE = re.compile(r"(?P<b>[0-9a-z]+)-(?P<u>\d+)-(?P<r>\d+)$")
_BUILDING = re.compile(r"(?P<b>[0-9a-z]+)幢")
_UNIT = re.compile(r"(?P<u>\d+)单元")
_ROOM = re.compile(r"(?P<r>\d+)室?$")


def chinese_number(text: str) -> int:
    """二 → 2, 十二 → 12, 二十 → 20, 一百零五 → 105, 一二 → 12 (digit by digit)."""
    if "十" not in text and "百" not in text:
        return int("".join(str(_DIGITS[c]) for c in text))
    total, current = 0, 0
    for c in text:
        if c == "百":
            total += (current or 1) * 100
            current = 0
        elif c == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = _DIGITS[c]
    return total + current


def _numbers(text: str) -> str:
    return _NUMBERED.sub(lambda m: str(chinese_number(m.group(1))), text)


def _strip_divisions(text: str) -> str:
    text = _PROVINCE.sub("", text, count=1)
    text = _MUNICIPALITY.sub("", text, count=1)
    for level in _LEVELS:
        m = level.match(text)
        if m is None or len(m.group(0)) == len(text):
            continue
        prefix = m.group(0)
        if any(prefix.endswith(word) for word in _NOT_DIVISION) or not re.search(
            r"[\u4e00-\u9fff]", text[len(prefix) :]
        ):
            continue
        text = text[len(prefix) :]
    return text


def clean(text: str) -> str:
    """Width, case, punctuation and spaces folded; Chinese numerals in numbered positions; the
    building words (栋, 号楼, 座, #) all written 幢. Division prefixes are kept."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("—", "-").replace("－", "-").replace("–", "-")
    text = _PUNCT.sub("", text)
    text = _numbers(text)
    text = _BUILDING_WORDS.sub("幢", text)
    return text


def _number(value: str) -> str:
    """A building, unit or room number as written in the register: "3", "3幢", "三幢", "03",
    "２单元", "501室" → the bare number ("3", "3", "3", "3", "2", "501")."""
    value = clean(value)
    value = re.sub(r"(幢|单元|室|层|号)$", "", value)
    return value.lstrip("0") or value


@dataclass(frozen=True)
class ParsedAddress:
    """The canonical parts of an address: ``street`` is 街路巷 + 门牌号 ("宝石山下1弄12号"),
    ``place`` what lies between it and the building (a 小区 or building name), the rest bare
    numbers ("" where not given)."""

    street: str
    place: str
    building: str
    unit: str
    room: str

    @property
    def normalized(self) -> str:
        """One string for the similarity search: street, place, building, unit and room."""
        return "".join(
            [
                self.street,
                self.place,
                f"{self.building}幢" if self.building else "",
                f"{self.unit}单元" if self.unit else "",
                f"{self.room}室" if self.room else "",
            ]
        )


def parse(text: str) -> ParsedAddress:
    """An address as said or typed → its canonical parts (never fails: what cannot be split
    stays in ``street``)."""
    text = _strip_divisions(clean(text))
    m = _STREET.match(text)
    if m is None:
        return ParsedAddress(street=text.replace("-", ""), place="", building="", unit="", room="")
    street, rest = m.group("street"), m.group("rest")
    building = unit = room = ""
    if (t := _TRIPLE.search(rest)) is not None:  # 3-2-501
        building, unit, room = t.group("b"), t.group("u"), t.group("r")
        rest = rest[: t.start()]
    else:
        if (b := _BUILDING.search(rest)) is not None:
            building = b.group("b")
            rest = rest[: b.start()] + "\0" + rest[b.end() :]
        if (u := _UNIT.search(rest)) is not None:
            unit = u.group("u")
            rest = rest[: u.start()] + "\0" + rest[u.end() :]
        after = rest.rsplit("\0", 1)[-1] if "\0" in rest else rest
        if (r := _ROOM.search(after)) is not None and (
            building or unit or after.endswith("室") or after.isdigit()
        ):
            room = r.group("r")
            cut = len(rest) - len(after) + r.start()
            rest = rest[:cut]
        elif (r := _ROOM.search(rest)) is not None and r.group(0).endswith("室"):
            room = r.group("r")
            rest = rest[: r.start()]
    place = rest.split("\0", 1)[0].replace("-", "")
    return ParsedAddress(
        street=street,
        place=place,
        building=_number(building) if building else "",
        unit=_number(unit) if unit else "",
        room=_number(room) if room else "",
    )


def register_keys(
    street_address: str, building_no: str, unit_no: str, room_no: str
) -> ParsedAddress:
    """The canonical parts of a register entry (stored with it): the street from
    ``street_address`` (whatever prefixes or place name it was written with) and the numbers
    from their own columns."""
    street = parse(street_address)
    return ParsedAddress(
        street=street.street,
        place=street.place,
        building=_number(building_no) if building_no else "",
        unit=_number(unit_no) if unit_no else "",
        room=_number(room_no) if room_no else "",
    )

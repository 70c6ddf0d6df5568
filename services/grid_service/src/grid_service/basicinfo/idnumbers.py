"""Resident identity card numbers (公民身份号码, GB 11643-1999).

18 characters: a 6-digit address code, an 8-digit birth date, a 3-digit sequence (odd for men,
even for women) and a check character computed with ISO 7064 MOD 11-2. The check is written out
here (it is a dozen lines, and no maintained library does only this).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from shared.i18n import Text

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2^(17-i) mod 11
_CHECK = "10X98765432"  # check character for (sum mod 11) = 0 … 10
_SHAPE = re.compile(r"^[1-9][0-9]{5}(18|19|20)[0-9]{2}[0-9]{4}[0-9]{3}[0-9X]$")


def check_character(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def problem(value: str, *, today: date | None = None) -> Text | None:
    """Why ``value`` is not a valid ID number, or None when it is (normalised upper-case)."""
    if not _SHAPE.match(value):
        return Text(
            "身份证号为 17 位数字加一位校验码（数字或 X）",
            "an ID number is 17 digits and a check digit or X",
        )
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return Text(
            "身份证号中的出生日期不存在", "the birth date inside the ID number does not exist"
        )
    if born > (today or datetime.now(UTC).date()):
        return Text(
            "身份证号中的出生日期晚于今天", "the birth date inside the ID number is in the future"
        )
    if check_character(value[:17]) != value[17]:
        return Text("校验码不符（GB 11643）", "the check digit does not match (GB 11643)")
    return None


def birth_date(value: str) -> date:
    return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def gender(value: str) -> str:
    return "male" if int(value[16]) % 2 == 1 else "female"

"""Redaction of personal numbers in text the public Open311 feed shows (docs/security.md,
"Open311 disclosure policy"): mobile and landline phone numbers, resident ID-card numbers
(18 digits, the last may be ``X``; the old 15-digit ones too), bank-card numbers (16-19 digits)
and Chinese vehicle plates (浙A12345, 浙AD12345 new-energy, 浙A1234学). E-mail addresses go too.

Hand-written on purpose: no maintained library fits. ``cn-pii-anonymization`` (the one Chinese
PII redactor on PyPI) is a 0.1 release built on Presidio with PaddleNLP/PaddleOCR models —
hundreds of megabytes for four regular expressions, and it knows no plates; Presidio itself
has no Chinese recognisers; ``phonenumbers`` finds phone numbers but not the other three, and
its matcher refuses numbers glued to Chinese characters ("电话13812345678"). Validators such as
``python-stdnum`` (ID-card checksum, Luhn) would only let a mistyped number through: a
redactor must hide what *looks* like a number of the kind, valid or not.

Rules: digits may be full-width (１３８…) and grouped by single spaces or hyphens
(138 1234 5678, 6222 0212 3456 7890); a match never starts or ends inside a longer run of
digits (letters around a number do not protect it), so an 11-digit slice of a 20-digit order
number is not a phone — but the whole run of 15 or more digits is hidden (as an ID, a card
or, past 19 digits, a number). Longer matches win: an ID number is not cut into a phone
number and a remainder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from shared.i18n import Lang, Text

#: full-width digits and Latin letters → ASCII, one character for one (positions stay valid)
_FULL_WIDTH = str.maketrans(
    {chr(0xFF10 + i): str(i) for i in range(10)}
    | {chr(0xFF21 + i): chr(0x41 + i) for i in range(26)}
    | {chr(0xFF41 + i): chr(0x61 + i) for i in range(26)}
    | {"\u3000": " ", "\uff0d": "-", "\uff08": "(", "\uff09": ")", "\uff0b": "+"}
)

_SEP = r"[ \-]?"
#: numbers end where digits end: letters around them do not matter ("tel13812345678")
_NO_DIGIT_BEFORE = r"(?<!\d)"
_NO_DIGIT_AFTER = r"(?!\d)"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"

#: 18-digit ID (6 + 8 + 4, groups may be spaced) or the 15-digit one issued before 1999
_ID_CARD = re.compile(
    _NO_DIGIT_BEFORE + rf"(?:\d{{6}}{_SEP}\d{{8}}{_SEP}\d{{3}}[\dXx]|\d{{15}})" + _NO_DIGIT_AFTER
)
#: 16-19 digits, optionally grouped (a 15+ digit run that is not an ID is hidden as a card)
_BANK_CARD = re.compile(_NO_DIGIT_BEFORE + r"\d(?:[ \-]?\d){14,18}" + _NO_DIGIT_AFTER)
#: mainland mobile, with or without +86 / 0086 / 86
_MOBILE = re.compile(
    _NO_DIGIT_BEFORE + r"(?:(?:\+|00)?86[ \-]?)?1[3-9]\d(?:[ \-]?\d){8}" + _NO_DIGIT_AFTER
)
#: landline with its area code: 0571-88886666, (0571)88886666, 010 6552 8888, with extension
_LANDLINE = re.compile(
    _NO_DIGIT_BEFORE
    + r"(?:\(0\d{2,3}\)|0\d{2,3})[ \-]?\d{3,4}[ \-]?\d{4}(?:[ \-]?(?:转|ext\.?|x)[ \-]?\d{1,6})?"
    + _NO_DIGIT_AFTER,
    re.IGNORECASE,
)
#: a local number without area code, only after a word that says it is one
_LOCAL_AFTER_WORD = re.compile(
    r"(?:电话|手机|联系方式|联系|座机|号码|tel|phone)[:：\s]*(\d{3,4}[ \-]?\d{4})"
    + _NO_DIGIT_AFTER,
    re.IGNORECASE,
)
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
#: province + issuing letter + 5 (6 for new-energy) letters/digits, or 4 + 挂/学/警/港/澳;
#: at least three digits in the serial (``accept``), so "云Server" is not a plate
_PLATE = re.compile(
    rf"[{_PROVINCES}][ ·]?[A-HJ-NP-Za-hj-np-z][ ·•.\-]?"
    r"(?:[A-HJ-NP-Za-hj-np-z0-9]{5,6}|[A-HJ-NP-Za-hj-np-z0-9]{4}[挂学警港澳])" + _NOT_ALNUM_AFTER
)
#: any longer run of digits (20+): an account, a policy number … hidden whole
_LONG_NUMBER = re.compile(_NO_DIGIT_BEFORE + r"\d{20,}" + _NO_DIGIT_AFTER)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")


@dataclass(frozen=True)
class Kind:
    name: str
    pattern: re.Pattern[str]
    marker: Text
    group: int = 0
    accept: Callable[[str], bool] = lambda _: True


#: the order matters only for equal spans (the earlier kind names it): longer matches win
KINDS: tuple[Kind, ...] = (
    Kind("phone", _MOBILE, Text("[电话号码]", "[phone number]")),
    Kind("phone", _LANDLINE, Text("[电话号码]", "[phone number]")),
    Kind("phone", _LOCAL_AFTER_WORD, Text("[电话号码]", "[phone number]"), group=1),
    Kind("id_card", _ID_CARD, Text("[身份证号]", "[ID number]")),
    Kind("bank_card", _BANK_CARD, Text("[银行卡号]", "[bank card number]")),
    Kind(
        "plate",
        _PLATE,
        Text("[车牌号]", "[plate number]"),
        accept=lambda s: sum(c.isdigit() for c in s) >= 3,
    ),
    Kind("email", _EMAIL, Text("[邮箱]", "[e-mail]")),
    Kind("number", _LONG_NUMBER, Text("[号码]", "[number]")),
)


def find(text: str) -> list[tuple[int, int, Kind]]:
    """The spans to hide, ``(start, end, kind)``, left to right and not overlapping."""
    plain = text.translate(_FULL_WIDTH)
    found: list[tuple[int, int, Kind]] = []
    for kind in KINDS:
        for match in kind.pattern.finditer(plain):
            if not kind.accept(match.group(kind.group)):
                continue
            found.append((match.start(kind.group), match.end(kind.group), kind))
    # longest first, then leftmost; keep a span only if it overlaps none already kept
    found.sort(key=lambda f: (-(f[1] - f[0]), f[0]))
    kept: list[tuple[int, int, Kind]] = []
    for start, end, kind in found:
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, kind))
    return sorted(kept, key=lambda f: f[0])


def redact(text: str | None, lang: Lang = "zh") -> str:
    """``text`` with every phone, ID-card, bank-card, plate number and e-mail replaced by a
    marker (``[电话号码]`` …; English markers for ``lang="en"``)."""
    if not text:
        return ""
    out: list[str] = []
    at = 0
    for start, end, kind in find(text):
        out.append(text[at:start])
        out.append(kind.marker.get(lang))
        at = end
    out.append(text[at:])
    return "".join(out)

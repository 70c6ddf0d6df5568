"""zh-CN first, English on request: the language of what a person reads in an answer.

Every text a service returns to a person (a problem's ``title``, ``detail`` and field ``reason``)
is a :class:`Text` holding both languages. The answer is in Chinese unless the request's
``Accept-Language`` prefers English (RFC 9110 §12.5.4, with q-values): ``en``, ``en-US`` or
``en-US,en;q=0.9`` → English; ``zh-CN``, ``*``, an unknown language or no header → Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Lang = Literal["zh", "en"]
DEFAULT_LANG: Lang = "zh"
SUPPORTED: tuple[Lang, ...] = ("zh", "en")


@dataclass(frozen=True, slots=True)
class Text:
    """One text in both languages. Both are required: a problem cannot be added in one only."""

    zh: str
    en: str

    def __post_init__(self) -> None:
        if not self.zh or not self.en:
            raise ValueError("a Text needs both its zh-CN and its English wording")

    def get(self, lang: Lang) -> str:
        return self.en if lang == "en" else self.zh

    def __str__(self) -> str:  # logs and exception messages stay English
        return self.en


def negotiate(accept_language: str | None) -> Lang:
    """The language of the answer from an ``Accept-Language`` header.

    The range with the highest q-value that names a supported language wins (``zh``/``zh-*``
    → zh, ``en``/``en-*`` → en, ``*`` → zh); on equal q the earlier range wins; ``q=0``
    excludes. A malformed range is skipped; nothing supported → zh.
    """
    if not accept_language:
        return DEFAULT_LANG
    best: tuple[float, int, Lang] | None = None
    for index, part in enumerate(accept_language.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        tag = pieces[0].lower()
        if not tag:
            continue
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = -1.0
        if not 0.0 < q <= 1.0:
            continue
        primary = tag.split("-", 1)[0]
        lang: Lang | None
        if primary == "*":
            lang = DEFAULT_LANG
        elif primary in SUPPORTED:
            lang = "en" if primary == "en" else "zh"
        else:
            lang = None
        if lang is None:
            continue
        if best is None or q > best[0]:
            best = (q, index, lang)
    return best[2] if best is not None else DEFAULT_LANG


def localize(text: Text | str | None, lang: Lang) -> str | None:
    if text is None:
        return None
    return text.get(lang) if isinstance(text, Text) else text

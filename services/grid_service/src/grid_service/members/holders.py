"""Who holds a post, as the rules that pick who answers now need it: a stored ``Member`` or a
:class:`PostHolder` from the locator's in-memory snapshot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Holder(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def area_id(self) -> uuid.UUID: ...
    @property
    def post(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def duties(self) -> str | None: ...
    @property
    def account_id(self) -> uuid.UUID | None: ...
    @property
    def public_consent(self) -> bool: ...
    @property
    def backup_for_id(self) -> uuid.UUID | None: ...
    @property
    def created_at(self) -> datetime: ...

    def is_away(self, now: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class PostHolder:
    id: uuid.UUID
    area_id: uuid.UUID
    post: str
    name: str
    phone: str | None
    duties: str | None
    account_id: uuid.UUID | None
    public_consent: bool
    backup_for_id: uuid.UUID | None
    away_since: datetime | None
    away_until: datetime | None
    created_at: datetime

    def is_away(self, now: datetime) -> bool:
        if self.away_since is None or self.away_since > now:
            return False
        return self.away_until is None or now < self.away_until

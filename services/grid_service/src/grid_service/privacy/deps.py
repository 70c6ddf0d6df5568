"""Request dependencies: the app's settings and cipher, and the reveal parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from grid_service.config import Settings
from grid_service.privacy.crypto import PiiCipher, get_cipher


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _cipher(request: Request) -> PiiCipher:
    return get_cipher(request.app.state)


SettingsDep = Annotated[Settings, Depends(_settings)]
CipherDep = Annotated[PiiCipher, Depends(_cipher)]


@dataclass(frozen=True)
class Reveal:
    reveal: bool
    reason: str | None


def _reveal(
    reveal: Annotated[
        bool,
        Query(
            description="show full ID and phone numbers (roles in `GRID_PII_REVEAL_ROLES` "
            "only; audited)"
        ),
    ] = False,
    reason: Annotated[
        str | None,
        Query(
            min_length=2,
            max_length=500,
            description="why the full values are needed; required with `reveal=true`",
            examples=["办理低保复核"],
        ),
    ] = None,
) -> Reveal:
    return Reveal(reveal=reveal, reason=reason)


RevealDep = Annotated[Reveal, Depends(_reveal)]


def example_response(
    example: Any, status: int = 200, media_type: str = "application/json"
) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI ``responses=`` entry carrying an example body."""
    return {status: {"content": {media_type: {"example": example}}}}

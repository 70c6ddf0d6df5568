"""Tokens issued by grid_service (the identity provider of all three services)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 successful token response."""

    access_token: str = Field(description="short-lived ES256 JWT")
    token_type: str = Field("Bearer", examples=["Bearer"])
    expires_in: int = Field(description="seconds until the access token expires", examples=[900])
    refresh_token: str | None = Field(
        None, description="single-use refresh token; each use returns a new one"
    )
    scope: str | None = Field(None, description="granted scopes (platform clients)")


class AccessClaims(BaseModel):
    """Claims of an access token, as every service reads them."""

    iss: str
    aud: str | list[str]
    sub: str = Field(description="account id (or platform client id)")
    exp: int
    iat: int
    jti: str
    typ: str = "access"
    roles: list[str] = Field(default_factory=list)
    areas: list[str] = Field(default_factory=list, description="area paths in scope")
    depts: list[str] = Field(default_factory=list, description="department ids in scope")
    scope: str | None = None
    cid: str | None = Field(None, description="platform client id")
    name: str | None = None

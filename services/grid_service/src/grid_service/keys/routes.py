"""``/.well-known/jwks.json``: the public keys every service verifies access tokens with."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from grid_service.keys import service
from shared.db import SessionDep

router = APIRouter(tags=["auth"])


@router.get(
    "/.well-known/jwks.json",
    summary="Public signing keys (JWKS, RFC 7517)",
    description="The active key and recently retired ones, so that tokens signed before a "
    "rotation keep verifying until they expire. Cache for at most five minutes.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "keys": [
                            {
                                "kty": "EC",
                                "crv": "P-256",
                                "x": "…",
                                "y": "…",
                                "kid": "1f0c2a9b8d7e6f50",
                                "use": "sig",
                                "alg": "ES256",
                            }
                        ]
                    }
                }
            }
        }
    },
)
async def jwks(request: Request, response: Response, session: SessionDep) -> dict[str, Any]:
    settings = request.app.state.settings
    keys = await service.published_keys(
        session, grace=timedelta(seconds=settings.signing_key_grace_seconds)
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return {"keys": [k.public_jwk for k in keys]}

"""Platform clients' API keys (Open311 ``api_key``): served by grid_service, read by
case_service.

grid_service endpoint (the caller's token needs scope ``api_keys:verify``, e.g. case_service's
platform client): ``POST /api/v1/platform-clients/verify-api-key`` with
:class:`ApiKeyVerifyRequest` → :class:`ApiKeyOwner`, or 404 problem ``unknown_api_key`` when no
enabled client holds the key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyVerifyRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"api_key": "demo-open311-key"}]})

    api_key: str = Field(min_length=1, max_length=256)


class ApiKeyOwner(BaseModel):
    client_id: str = Field(examples=["open311-demo"])
    name: str
    scopes: list[str] = Field(examples=[["open311"]])

"""Template wire schemas: the base text, and each provider's own template id and shape."""

from __future__ import annotations

import uuid
from datetime import datetime
from string import Formatter
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.recipients import Channel
from shared.validation_texts import InvalidValue

KEY_PATTERN = r"^[a-z][a-z0-9_.]{1,99}$"
VARIABLE_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
LOCALE_PATTERN = r"^[a-z]{2}(-[A-Z]{2})?$"


def placeholders(value: Any) -> set[str]:
    """Every ``{name}`` used inside a string or nested list/dict of strings."""
    if isinstance(value, str):
        return {name for _, name, _, _ in Formatter().parse(value) if name is not None}
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    return set()


class AliyunTemplate(BaseModel):
    """Alibaba Cloud SMS: ``TemplateCode``, ``SignName`` and ``TemplateParam`` (named)."""

    model_config = ConfigDict(extra="forbid")
    template_code: str = Field(min_length=1, max_length=40, examples=["SMS_465800123"])
    sign_name: str = Field(min_length=1, max_length=40, examples=["网格通"])
    params: dict[str, str] = Field(
        default_factory=dict,
        description="TemplateParam: the provider's variable name → our `{variable}` text",
        examples=[{"code": "{case_number}"}],
    )


class TencentTemplate(BaseModel):
    """Tencent Cloud SMS: ``TemplateId``, ``SignName`` and ``TemplateParamSet`` (positional)."""

    model_config = ConfigDict(extra="forbid")
    template_id: str = Field(min_length=1, max_length=20, examples=["1865432"])
    sign_name: str = Field(min_length=1, max_length=40, examples=["网格通"])
    params: list[str] = Field(default_factory=list, examples=[["{case_number}", "{title}"]])


class WechatTemplate(BaseModel):
    """WeChat template (公众号) or subscribe (小程序) message: ``template_id`` and ``data``."""

    model_config = ConfigDict(extra="forbid")
    template_id: str = Field(min_length=1, max_length=100)
    data: dict[str, str] = Field(
        default_factory=dict, examples=[{"character_string1": "{case_number}"}]
    )
    url: str | None = Field(None, description="official account: page opened on tap")
    page: str | None = Field(None, description="mini-program: page opened on tap")
    miniprogram_state: str | None = Field(None, examples=["formal"])


class ProviderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aliyun: AliyunTemplate | None = None
    tencent: TencentTemplate | None = None
    wechat: WechatTemplate | None = None


class TemplateBase(BaseModel):
    title: str = Field(min_length=1, max_length=200, examples=["案件已受理"])
    body: str = Field(
        min_length=1,
        max_length=2000,
        examples=["您反映的问题（编号{case_number}）已受理，我们将尽快处理。"],
    )
    variables: list[str] = Field(
        default_factory=list,
        description="names every message of this template must supply",
        examples=[["case_number"]],
    )
    provider_params: ProviderParams = Field(default_factory=ProviderParams)

    @model_validator(mode="after")
    def _placeholders_declared(self) -> Self:
        import re

        declared = set(self.variables)
        bad = [v for v in self.variables if not re.match(VARIABLE_PATTERN, v)]
        if bad:
            raise InvalidValue(
                f"变量名须为 snake_case：{'、'.join(bad)}",
                f"variables must be snake_case names: {', '.join(bad)}",
            )
        used = placeholders(self.title) | placeholders(self.body)
        used |= placeholders(self.provider_params.model_dump(exclude_none=True))
        undeclared = sorted(used - declared)
        if undeclared:
            raise InvalidValue(
                f"占位符未在变量中声明：{'、'.join(undeclared)}",
                f"placeholders not listed in variables: {', '.join(undeclared)}",
            )
        return self


class TemplateCreate(TemplateBase):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "key": "case_accepted",
                "channel": "sms",
                "locale": "zh-CN",
                "title": "案件已受理",
                "body": "您反映的问题（编号{case_number}）已受理。",
                "variables": ["case_number"],
                "provider_params": {
                    "aliyun": {
                        "template_code": "SMS_465800123",
                        "sign_name": "网格通",
                        "params": {"code": "{case_number}"},
                    },
                    "tencent": {
                        "template_id": "1865432",
                        "sign_name": "网格通",
                        "params": ["{case_number}"],
                    },
                },
            }
        }
    )

    key: str = Field(pattern=KEY_PATTERN, examples=["case_accepted"])
    channel: Channel
    locale: str = Field("zh-CN", pattern=LOCALE_PATTERN)

    @model_validator(mode="after")
    def _channel_shape(self) -> Self:
        params = self.provider_params
        if self.channel is Channel.sms and params.aliyun is None and params.tencent is None:
            raise InvalidValue(
                "短信模板需要 provider_params.aliyun 或 .tencent",
                "an sms template needs provider_params.aliyun or .tencent",
            )
        if self.channel in (Channel.wechat_oa, Channel.wechat_mp) and params.wechat is None:
            raise InvalidValue(
                "微信模板需要 provider_params.wechat",
                "a WeChat template needs provider_params.wechat",
            )
        return self


class TemplateUpdate(TemplateBase):
    pass


class TemplateRead(TemplateBase):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key: str
    channel: Channel
    locale: str
    created_at: datetime
    updated_at: datetime

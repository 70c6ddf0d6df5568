"""zh-CN first: problems answer in Chinese unless Accept-Language prefers English."""

from __future__ import annotations

import typing
import uuid
from enum import StrEnum

import httpx
import pydantic_core.core_schema as core_schema
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.i18n import Text, negotiate
from shared.middleware import RequestContextMiddleware
from shared.problem import (
    AppError,
    Conflict,
    FieldProblem,
    NotFound,
    ValidationFailed,
    install_problem_handlers,
)
from shared.testing import assert_problem_texts
from shared.validation_texts import ZH, InvalidValue, reason_for


class Colour(StrEnum):
    red = "red"
    green = "green"


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=4)
    count: int = Field(gt=0)
    colour: Colour = Colour.red
    owner: uuid.UUID | None = None
    code: str = "a"

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if v == "bad":
            raise InvalidValue("编码不能是 bad", "the code must not be bad")
        if v == "plain":
            raise ValueError("plain message")
        return v


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, service="test", max_body_bytes=512)

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        return thing

    @app.get("/closed")
    async def closed() -> None:
        raise Conflict(
            Text("案件已结案，不能再受理", "The case is closed"),
            code="case_closed",
            errors=[FieldProblem(field="action", reason=Text("不允许", "not allowed"))],
        )

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound()

    return app


@pytest.fixture
def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "zh"),
        ("", "zh"),
        ("zh-CN", "zh"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en", "en"),
        ("EN-us", "en"),
        ("en-US,en;q=0.9", "en"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("zh-CN;q=0.5, en;q=0.9", "en"),
        ("fr-FR, en;q=0.5", "en"),
        ("fr-FR", "zh"),
        ("*", "zh"),
        ("en;q=0", "zh"),
        ("en;q=abc, zh", "zh"),
        ("de;q=1, en;q=0.2, zh;q=0.1", "en"),
        (" , en ;q=0.7", "en"),
    ],
)
def test_accept_language_is_negotiated_with_q_values(header: str | None, lang: str) -> None:
    assert negotiate(header) == lang


def test_a_text_needs_both_languages() -> None:
    with pytest.raises(ValueError):
        Text("", "English only")
    with pytest.raises(ValueError):
        Text("只有中文", "")


def test_a_problem_class_cannot_be_declared_without_a_bilingual_title() -> None:
    with pytest.raises(TypeError):

        class NoTitle(AppError):
            code = "no_title"

    with pytest.raises(TypeError):

        class EnglishTitle(AppError):
            code = "english_title"
            title = "English only"  # type: ignore[assignment]


def test_shared_problem_classes_have_both_texts() -> None:
    classes = assert_problem_texts("shared")
    assert {c.code for c in classes} >= {"validation_failed", "not_found", "upstream_timeout"}


def test_every_pydantic_error_type_has_a_chinese_wording() -> None:
    missing = set(typing.get_args(core_schema.ErrorType)) - set(ZH)
    assert not missing, f"pydantic error types without zh-CN: {sorted(missing)}"
    assert reason_for({"type": "some_future_type", "msg": "New"}) == Text("取值无效", "New")


async def test_domain_problem_is_chinese_by_default_and_english_on_request(
    client: httpx.AsyncClient,
) -> None:
    zh = await client.get("/closed")
    assert zh.status_code == 409
    assert zh.headers["content-language"] == "zh-CN"
    assert "accept-language" in zh.headers["vary"].lower()
    body = zh.json()
    assert (body["code"], body["title"], body["detail"]) == (
        "case_closed",
        "与当前状态冲突",
        "案件已结案，不能再受理",
    )
    assert body["errors"] == [{"field": "action", "reason": "不允许", "type": "invalid"}]
    en = await client.get("/closed", headers={"Accept-Language": "en-US,en;q=0.9"})
    body = en.json()
    assert en.headers["content-language"] == "en"
    assert (body["code"], body["title"], body["detail"]) == (
        "case_closed",
        "Conflict",
        "The case is closed",
    )
    assert body["errors"] == [{"field": "action", "reason": "not allowed", "type": "invalid"}]
    bare = (await client.get("/missing")).json()
    assert (bare["title"], bare["code"]) == ("未找到", "not_found")


async def test_pydantic_messages_are_translated_with_their_context(
    client: httpx.AsyncClient,
) -> None:
    body = {"name": "toolong", "count": 0, "colour": "blue", "owner": "x", "extra": 1}
    zh = (await client.post("/things", json=body)).json()
    reasons = {e["field"]: (e["type"], e["reason"]) for e in zh["errors"]}
    assert reasons == {
        "name": ("string_too_long", "至多 4 个字符"),
        "count": ("greater_than", "应大于 0"),
        "colour": ("enum", "应为以下取值之一：'red' 或 'green'"),
        "owner": ("uuid_parsing", "不是有效的 UUID"),
        "extra": ("extra_forbidden", "不允许的字段"),
    }
    assert zh["title"] == "请求校验未通过"
    assert zh["detail"] == "5 个字段有误：colour, count, extra, name, owner"
    en = (await client.post("/things", json=body, headers={"Accept-Language": "en"})).json()
    en_reasons = {e["field"]: e["reason"] for e in en["errors"]}
    assert en_reasons["name"] == "String should have at most 4 characters"
    assert en_reasons["extra"] == "Extra inputs are not permitted"
    assert en["title"] == "Request validation failed"
    missing = (await client.post("/things", json={})).json()
    assert {e["field"]: e["reason"] for e in missing["errors"]} == {
        "name": "必填项",
        "count": "必填项",
    }


async def test_our_validators_give_their_own_reason_in_both_languages(
    client: httpx.AsyncClient,
) -> None:
    body = {"name": "a", "count": 1, "code": "bad"}
    zh = (await client.post("/things", json=body)).json()
    assert zh["errors"][0]["reason"] == "编码不能是 bad"
    en = (await client.post("/things", json=body, headers={"Accept-Language": "en"})).json()
    assert en["errors"][0]["reason"] == "the code must not be bad"
    plain = (await client.post("/things", json={**body, "code": "plain"})).json()
    assert plain["errors"][0]["reason"] == "取值无效：plain message"


async def test_middleware_rejections_and_http_errors_are_chinese_first(
    client: httpx.AsyncClient,
) -> None:
    big = await client.post("/things", json={"name": "a" * 600, "count": 1})
    assert (big.status_code, big.json()["title"]) == (413, "请求体过大")
    assert big.json()["detail"] == "请求体超过 512 字节"
    assert big.headers["content-language"] == "zh-CN"
    big_en = await client.post(
        "/things", json={"name": "a" * 600, "count": 1}, headers={"Accept-Language": "en"}
    )
    assert big_en.json()["detail"] == "The request body exceeds 512 bytes"
    nowhere = await client.get("/nowhere")
    assert nowhere.json()["detail"] == "没有与 GET /nowhere 匹配的接口"
    method = await client.delete("/things")
    assert (method.json()["code"], method.json()["title"]) == (
        "method_not_allowed",
        "不支持该请求方法",
    )
    bad_json = await client.post(
        "/things", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    bad = bad_json.json()
    assert (bad["code"], bad["title"]) == ("malformed_json", "JSON 格式有误")


def test_validation_failed_keeps_class_title() -> None:
    assert ValidationFailed.title == Text("请求校验未通过", "Request validation failed")

"""Template rules: one template per (key, channel, locale); variables checked up front."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from notify_service.templates import repository
from notify_service.templates.models import MessageTemplate
from notify_service.templates.schemas import TemplateCreate, TemplateUpdate
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Conflict, FieldProblem, NotFound, ValidationFailed


async def create(session: AsyncSession, *, data: TemplateCreate) -> MessageTemplate:
    if await repository.find(session, key=data.key, channel=data.channel, locale=data.locale):
        raise Conflict(
            Text(
                f"模板 {data.key}/{data.channel}/{data.locale} 已存在",
                f"A template {data.key}/{data.channel}/{data.locale} exists already",
            ),
            code="template_exists",
        )
    template = MessageTemplate(
        key=data.key,
        channel=data.channel,
        locale=data.locale,
        title=data.title,
        body=data.body,
        variables=list(data.variables),
        provider_params=data.provider_params.model_dump(exclude_none=True),
    )
    session.add(template)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            Text("模板被并发创建", "The template was created concurrently"), code="template_exists"
        ) from exc
    return template


async def update(
    session: AsyncSession, *, template_id: uuid.UUID, data: TemplateUpdate
) -> MessageTemplate:
    template = await repository.get(session, template_id)
    if template is None:
        raise NotFound(Text("没有这个模板", "No such template"), code="template_not_found")
    template.title = data.title
    template.body = data.body
    template.variables = list(data.variables)
    template.provider_params = data.provider_params.model_dump(exclude_none=True)
    template.updated_at = utcnow()
    await session.flush()
    return template


async def check_variables(
    session: AsyncSession,
    *,
    key: str,
    locale: str,
    channels: Iterable[str],
    variables: Mapping[str, str],
    field_prefix: str = "",
) -> dict[str, MessageTemplate]:
    """Check a message can be rendered on every channel asked for, before it is stored.

    Returns the templates by channel. ``channels`` empty means "whatever the recipient
    prefers": then every template of the key must be satisfiable.
    """
    templates = {
        ch: t
        for (k, ch, loc), t in (await repository.for_keys(session, [key])).items()
        if loc == locale
    }
    if not templates:
        raise ValidationFailed(
            Text(f"语言 {locale} 下没有模板 {key!r}", f"No template {key!r} in locale {locale}"),
            code="unknown_template",
            errors=[
                FieldProblem(
                    field=f"{field_prefix}template_key",
                    reason=Text("未知的模板", "unknown template"),
                )
            ],
        )
    wanted = list(channels)
    missing_channels = [c for c in wanted if c not in templates]
    if missing_channels:
        raise ValidationFailed(
            Text(
                f"模板 {key!r} 缺少 {'、'.join(missing_channels)} 版本",
                f"Template {key!r} has no version for {', '.join(missing_channels)}",
            ),
            code="channel_without_template",
            errors=[
                FieldProblem(
                    field=f"{field_prefix}channels",
                    reason=Text(f"没有 {c} 的模板", f"no template for {c}"),
                )
                for c in missing_channels
            ],
        )
    relevant = [templates[c] for c in wanted] if wanted else list(templates.values())
    required = set().union(*(set(t.variables) for t in relevant))
    problems = [
        FieldProblem(
            field=f"{field_prefix}variables.{name}",
            reason=Text("模板要求必填", "required by the template"),
            type="missing",
        )
        for name in sorted(required - set(variables))
    ]
    known = set().union(*(set(t.variables) for t in templates.values()))
    problems += [
        FieldProblem(
            field=f"{field_prefix}variables.{name}",
            reason=Text("不是模板的变量", "not a variable of the template"),
        )
        for name in sorted(set(variables) - known)
    ]
    if problems:
        raise ValidationFailed(
            Text("变量与模板不符", "The variables do not match the template"),
            code="invalid_variables",
            errors=problems,
        )
    return templates

"""Business rules of the catalogue: two levels, versioned changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.categories import repository
from case_service.categories.models import Category
from case_service.categories.schemas import CategoryBase, CategoryCreate, CategoryUpdate
from shared.i18n import Text
from shared.problem import Conflict, FieldProblem, NotFound, ValidationFailed


def _values(data: CategoryBase) -> dict[str, Any]:
    values = data.model_dump(mode="json", exclude={"code", "parent_code"})
    return values


async def create_category(
    session: AsyncSession, *, data: CategoryCreate, actor_id: str | None
) -> Category:
    if await repository.get_current(session, data.code) is not None:
        raise Conflict(
            Text(f"类别 {data.code} 已存在", f"Category {data.code} exists"), code="category_exists"
        )
    if data.parent_code is not None:
        parent = await repository.get_current(session, data.parent_code)
        if parent is None:
            raise ValidationFailed(
                Text("上级类别不存在", "The parent category does not exist"),
                code="unknown_parent_category",
                errors=[
                    FieldProblem(
                        field="parent_code", reason=Text("没有这个类别", "no such category")
                    )
                ],
            )
        if parent.parent_code is not None:
            raise ValidationFailed(
                Text(
                    "类别只有两级：上级必须是一级类别（大类）",
                    "Categories have two levels: the parent must be a top-level category (大类)",
                ),
                code="category_too_deep",
                errors=[
                    FieldProblem(field="parent_code", reason=Text("本身是小类", "is itself a 小类"))
                ],
            )
    category = Category(
        code=data.code, parent_code=data.parent_code, created_by=actor_id, **_values(data)
    )
    session.add(category)
    await session.flush()
    return category


async def update_category(
    session: AsyncSession, *, code: str, data: CategoryUpdate, actor_id: str | None
) -> Category:
    """Write version ``n + 1``; the old row stays for the cases filed under it."""
    current = await repository.get_current(session, code, lock=True)
    if current is None:
        raise NotFound(Text(f"没有类别 {code}", f"No category {code}"), code="category_not_found")
    current.is_current = False
    session.add(current)
    await session.flush()
    new = Category(
        code=code,
        version=current.version + 1,
        parent_code=current.parent_code,
        created_by=actor_id,
        **_values(data),
    )
    session.add(new)
    await session.flush()
    return new

"""Read back what the bot wrote: one row by key, or every row of a model that matches."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select

from bot.services import Services
from storage.models import Base

M = TypeVar("M", bound=Base)


async def get(services: Services, model: type[M], key: Any) -> M | None:
    """The row of `model` with primary key `key`, if there is one."""
    async with services.db.sessions() as session:
        return await session.get(model, key)


async def all_of(services: Services, model: type[M], *where: ColumnElement[bool]) -> list[M]:
    """Every row of `model` that matches the conditions, oldest first."""
    query = select(model).where(*where)
    primary = list(model.__table__.primary_key.columns)  # type: ignore[attr-defined]
    async with services.db.sessions() as session:
        return list((await session.scalars(query.order_by(*primary))).all())

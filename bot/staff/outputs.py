"""The files staff take away (the workbook, the archive, the 通报 and 催办通知): their names,
stamped with the office's time, and the audit entry of each file made."""

from __future__ import annotations

from typing import Any

from bot.services import Services
from messages import plain
from storage import repositories as repo


def stamped_name(services: Services, key: str, **values: object) -> str:
    """Name a file from the catalogue, stamped with the office's time (…_20261130_0900)."""
    local = services.now().astimezone(services.settings.tz)
    return plain(services.settings.language, key, stamp=f"{local:%Y%m%d_%H%M}", **values)


async def audit_file(
    *, services: Services, actor_id: int | None, action: str, **details: Any
) -> None:
    """Write the audit entry of a file made, in a transaction of its own."""
    async with services.db.uow() as tx:
        repo.audit(tx, services.now(), actor_id, action, **details)

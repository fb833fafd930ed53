"""The files staff take away (the workbook, the archive, the 通报 and 催办通知): their names,
stamped with the office's time, the audit entry of each file made, and the folder the chat's
are written in, deleted once they are sent.

A file made to be sent in the chat is written in a folder of its own under DATA_DIR/exports
(the disk the bot writes on, not a small /tmp), deleted with it once sent or once sending
failed. Backups leave DATA_DIR/exports out, and the hourly housekeeping (bot/retention.py)
deletes such a folder a process killed while sending left behind."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
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


# The folder under DATA_DIR where the chat's files are made, one fresh folder (this prefix and
# tempfile's 8 characters) each time.
SENDING = "exports"
SENDING_PREFIX = ".sending-"


def _new_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=root, prefix=SENDING_PREFIX))


@contextlib.asynccontextmanager
async def sending_folder(services: Services) -> AsyncIterator[Path]:
    """A fresh folder for files made only to be sent in the chat; deleted, with them, when
    the block ends (sent or not)."""
    folder = await asyncio.to_thread(_new_folder, services.settings.data_dir / SENDING)
    try:
        yield folder
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)

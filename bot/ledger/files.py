"""Files a liaison sends: checked from Telegram's metadata before download, then kept on disk.

What is accepted: the formats the office opens every day — PDF, Word, Excel (also their WPS
Office equivalents .wps/.et, and OFD, the national format for official e-documents) and
images (JPEG, PNG, HEIC/HEIF, WebP, BMP, TIFF) — at most 20 MB, the Bot API's download
limit. Archives (zip, rar, 7z, …) are refused: their content cannot be checked before
download, an archive may hide executables or expand without bound when the office opens
it, and a bundle defeats the per-item review. The person is asked to send the files inside
one by one instead.

Files are stored under DATA_DIR/<unit id>/<item id>/ with a random prefix and a cleaned
name, written off the event loop, and identified by their SHA-256.

A photo (Telegram's compressed image, with no name and no type of its own) is recorded with
`mime_type` NULL; a document always has a MIME type (Telegram's, or the one its extension
implies). That is how a stored file is sent back with the right method (sendPhoto or
sendDocument: Telegram refuses a file id of the other kind)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, Field

from bot.errors import DomainError

MAX_FILE_SIZE = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB

# Extension → the MIME type recorded when Telegram gives none (or a generic one).
ALLOWED_EXTENSIONS: dict[str, str] = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".wps": "application/vnd.ms-works",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".et": "application/vnd.ms-excel",
    ".ofd": "application/ofd",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
# A file without an extension is accepted on its MIME type alone if it is one of these.
ALLOWED_MIME_TYPES: dict[str, str] = {
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/ofd": ".ofd",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
}
ARCHIVE_EXTENSIONS = frozenset(
    {".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".cab", ".iso"}
)
# Declared types that are never a document, whatever the name says.
FORBIDDEN_MIME_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-dosexec",
        "application/x-msdos-program",
        "application/x-executable",
        "application/x-elf",
        "application/x-sh",
        "application/x-shellscript",
        "application/x-bat",
        "application/x-msi",
        "application/java-archive",
        "application/vnd.microsoft.portable-executable",
        "application/vnd.android.package-archive",
        "application/x-apple-diskimage",
    }
)
# The first bytes of programs: a file that starts so is refused whatever its name.
EXECUTABLE_SIGNATURES = (b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"#!")
PHOTO_EXTENSION = ".jpg"


class FileRefused(DomainError):
    """A file the bot will not keep; `key` says why in one sentence."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(**values)
        self.key = key


class IncomingFile(BaseModel):
    """A file as Telegram describes it in a message, before anything is downloaded."""

    kind: Literal["document", "photo"]
    file_id: str = Field(max_length=200)
    file_unique_id: str = Field(max_length=100)
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    # Where a forwarded file came from (a person's or chat's name), so that staff can see
    # when one unit passes on another's material.
    forwarded_from: str | None = Field(default=None, max_length=200)
    caption: str | None = Field(default=None, max_length=1024)  # "会议纪要第1页": staff see it

    @property
    def display_name(self) -> str:
        """The name shown to people: the sender's file name, or photo.jpg for a photo."""
        if self.kind == "photo" or not self.file_name:
            return f"photo{PHOTO_EXTENSION}"
        return self.file_name[:255]


class StoredFile(BaseModel):
    """A downloaded file: where it is (relative to DATA_DIR), its size and SHA-256."""

    path: str
    size: int
    sha256: str
    mime_type: str | None


def extension_of(name: str | None) -> str:
    """The lowercase extension of a file name ('' if none)."""
    if not name:
        return ""
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def size_text(size: int) -> str:
    """A size as people read it: 25.0 MB, 312 KB."""
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def check_incoming(incoming: IncomingFile) -> str | None:
    """Refuse a file from its metadata alone (FileRefused); return the MIME type to record.

    None is returned for a photo (see the module's docstring).
    """
    name = incoming.display_name
    if incoming.size is not None and incoming.size > MAX_FILE_SIZE:
        raise FileRefused("files.too_large", name=name, size=size_text(incoming.size))
    if incoming.kind == "photo":
        return None
    declared = (incoming.mime_type or "").split(";")[0].strip().lower()
    extension = extension_of(incoming.file_name)
    if extension in ARCHIVE_EXTENSIONS or declared in {
        "application/zip",
        "application/x-zip-compressed",
        "application/x-rar-compressed",
        "application/vnd.rar",
        "application/x-7z-compressed",
    }:
        raise FileRefused("files.archive", name=name)
    if declared in FORBIDDEN_MIME_TYPES:
        raise FileRefused("files.wrong_type", name=name)
    if extension:
        if extension not in ALLOWED_EXTENSIONS:
            raise FileRefused("files.wrong_type", name=name)
        generic = declared in ("", "application/octet-stream")
        return ALLOWED_EXTENSIONS[extension] if generic else declared
    if declared in ALLOWED_MIME_TYPES:
        return declared
    raise FileRefused("files.wrong_type", name=name)


NAME_BYTES = 150  # a disk takes 255 bytes a name: room for the folder's prefix and ".part"


def _bounded(text: str, limit: int) -> str:
    """The longest start of `text` that fits in `limit` bytes of UTF-8 (a Chinese character
    takes three)."""
    return text.encode()[:limit].decode(errors="ignore")


def safe_file_name(incoming: IncomingFile, mime_type: str | None) -> str:
    """A name safe on any disk: no folders, no odd characters, the right extension."""
    if incoming.kind == "photo":
        return f"photo{PHOTO_EXTENSION}"
    raw = unicodedata.normalize("NFC", incoming.file_name or "")
    base = PurePosixPath(raw.replace("\\", "/")).name
    stem, extension = os.path.splitext(base)
    extension = extension.lower()
    if extension not in ALLOWED_EXTENSIONS:
        extension = ALLOWED_MIME_TYPES.get(mime_type or "", "") or extension
    cleaned = re.sub(r"[^\w.()（）\-]+", "_", stem).strip("._- ")
    cleaned = _bounded(cleaned[:80], NAME_BYTES) or "file"
    cleaned_extension = re.sub(r"[^a-z0-9.]", "", extension)[:8]
    return cleaned + cleaned_extension


Fetch = Callable[[str], Awaitable[bytes]]
"""Download a file by its Telegram file_id (the bot's own getFile and file URL)."""


class DownloadTooLarge(Exception):
    """The server refused to hand out the file (over 20 MB): raised by a Fetch."""


async def download(
    *, fetch: Fetch, data_dir: Path, unit_id: int, item_id: int, incoming: IncomingFile
) -> StoredFile:
    """Download an accepted file into DATA_DIR/<unit>/<item>/ and fingerprint it."""
    mime_type = check_incoming(incoming)
    try:
        data = await fetch(incoming.file_id)
    except DownloadTooLarge:
        raise FileRefused(
            "files.too_large", name=incoming.display_name, size=size_text(incoming.size or 0)
        ) from None
    if len(data) > MAX_FILE_SIZE:
        raise FileRefused("files.too_large", name=incoming.display_name, size=size_text(len(data)))
    if data.startswith(EXECUTABLE_SIGNATURES):
        raise FileRefused("files.executable", name=incoming.display_name)
    folder = Path(str(unit_id)) / str(item_id)
    relative = folder / f"{secrets.token_hex(4)}_{safe_file_name(incoming, mime_type)}"
    digest = await asyncio.to_thread(_write, data_dir, relative, data)
    return StoredFile(path=relative.as_posix(), size=len(data), sha256=digest, mime_type=mime_type)


def _inside(data_dir: Path, relative: Path | str) -> Path:
    """The absolute path of a stored file; never anywhere outside DATA_DIR."""
    target = (data_dir / relative).resolve()
    if not target.is_relative_to(data_dir.resolve()):
        raise ValueError(f"{relative} is outside DATA_DIR")
    return target


def _write(data_dir: Path, relative: Path, data: bytes) -> str:
    """Write atomically (a .part file renamed into place); return the SHA-256. A write that
    fails (a full disk) leaves nothing behind."""
    target = _inside(data_dir, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with partial.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        partial.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def _unlink(data_dir: Path, relative: str) -> None:
    _inside(data_dir, relative).unlink(missing_ok=True)


async def remove(data_dir: Path, relative: str) -> None:
    """Delete a stored file that turned out not to be wanted (a duplicate)."""
    await asyncio.to_thread(_unlink, data_dir, relative)


def is_photo(mime_type: str | None) -> bool:
    """Whether a recorded file was a Telegram photo (sent again with sendPhoto)."""
    return mime_type is None

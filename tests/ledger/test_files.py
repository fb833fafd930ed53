"""Files: refused from Telegram's metadata before download; kept under DATA_DIR with a SHA-256."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from bot.ledger.files import (
    MAX_FILE_SIZE,
    DownloadTooLarge,
    FileRefused,
    IncomingFile,
    check_incoming,
    download,
    is_photo,
    remove,
    safe_file_name,
    size_text,
)
from messages import t

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def document(
    name: str | None, *, mime: str | None = None, size: int | None = 1000
) -> IncomingFile:
    return IncomingFile(
        kind="document",
        file_id="BQACfile",
        file_unique_id="AQADuniq",
        file_name=name,
        mime_type=mime,
        size=size,
    )


def photo(size: int | None = 50_000) -> IncomingFile:
    return IncomingFile(kind="photo", file_id="AgACphoto", file_unique_id="AQADp", size=size)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def refusal(incoming: IncomingFile) -> str:
    with pytest.raises(FileRefused) as caught:
        check_incoming(incoming)
    return caught.value.key


@pytest.mark.parametrize(
    ("name", "mime", "recorded"),
    [
        ("年度工作计划.pdf", "application/pdf", "application/pdf"),
        ("会议纪要.DOCX", None,
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("台账.xlsx", "application/octet-stream",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("台账.xls", "application/vnd.ms-excel", "application/vnd.ms-excel"),
        ("报告.wps", None, "application/vnd.ms-works"),
        ("公文.ofd", None, "application/ofd"),
        ("盖章页.HEIC", "image/heic", "image/heic"),
        ("现场.jpeg", "image/jpeg", "image/jpeg"),
        ("scan", "application/pdf", "application/pdf"),
    ],
)  # fmt: skip
def test_office_formats_are_accepted_with_a_mime_type(
    name: str, mime: str | None, recorded: str
) -> None:
    assert check_incoming(document(name, mime=mime)) == recorded


def test_a_photo_is_accepted_and_recorded_without_a_mime_type() -> None:
    assert check_incoming(photo()) is None
    assert is_photo(None)
    assert not is_photo("image/jpeg")


@pytest.mark.parametrize(
    ("incoming", "key"),
    [
        (document("setup.exe", mime="application/x-msdownload"), "files.wrong_type"),
        (document("报告.pdf.exe"), "files.wrong_type"),
        (document("宏.docm"), "files.wrong_type"),
        (document("run.sh", mime="application/x-sh"), "files.wrong_type"),
        (document("看似文档.pdf", mime="application/x-msdownload"), "files.wrong_type"),
        (document("noextension", mime="application/octet-stream"), "files.wrong_type"),
        (document(None, mime=None), "files.wrong_type"),
        (document("材料.zip", mime="application/zip"), "files.archive"),
        (document("材料.rar"), "files.archive"),
        (document("材料.7z"), "files.archive"),
        (document("noext", mime="application/x-7z-compressed"), "files.archive"),
        (document("大文件.pdf", size=25 * 1024 * 1024), "files.too_large"),
        (photo(size=MAX_FILE_SIZE + 1), "files.too_large"),
    ],
)
def test_refused_from_metadata_with_a_reason(incoming: IncomingFile, key: str) -> None:
    assert refusal(incoming) == key


def test_the_reason_names_the_file_and_what_to_do_in_one_sentence() -> None:
    with pytest.raises(FileRefused) as caught:
        check_incoming(document("大文件.pdf", size=25 * 1024 * 1024))
    text = t("zh", caught.value.key, **caught.value.values)
    assert "大文件.pdf" in text
    assert "25.0 MB" in text
    assert "20 MB" in text
    assert text.count("。") == 1
    assert text.endswith("。")
    assert size_text(320 * 1024) == "320 KB"


def test_exactly_20_mb_is_accepted() -> None:
    assert check_incoming(document("边界.pdf", size=MAX_FILE_SIZE)) == "application/pdf"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\system.docx", "system.docx"),
        ("共建协议（盖章页）.pdf", "共建协议（盖章页）.pdf"),
        ("a b?*<>|.DOCX", "a_b.docx"),
        (".hidden.pdf", "hidden.pdf"),
        ("....pdf", "pdf.pdf"),
    ],
)
def test_safe_file_names(name: str, expected: str) -> None:
    incoming = document(name)
    assert safe_file_name(incoming, check_incoming(incoming)) == expected


async def test_a_long_chinese_file_name_is_shortened_to_fit_the_disk(tmp_path: Path) -> None:
    """81 Chinese characters are 243 bytes: with the folder's prefix and ".part" the disk
    refused the name, and the update was tried again for ever."""
    name = "关于" + "市双拥工作领导小组成员单位资料台账报送情况" * 4 + "的说明（盖章页）.pdf"
    incoming = document(name)
    safe = safe_file_name(incoming, check_incoming(incoming))
    assert safe.startswith("关于市双拥工作领导小组")

    async def fetch(file_id: str) -> bytes:
        return PDF

    stored = await download(
        fetch=fetch, data_dir=tmp_path, unit_id=1, item_id=2, incoming=incoming
    )
    assert (tmp_path / stored.path).read_bytes() == PDF


def test_a_long_name_is_shortened_and_keeps_its_extension() -> None:
    incoming = document("长" * 300 + ".pdf")
    name = safe_file_name(incoming, check_incoming(incoming))
    assert name.endswith(".pdf")
    assert name == "长" * 50 + ".pdf"  # 150 bytes of UTF-8: a disk takes 255 a name


def test_a_name_without_extension_gets_the_one_of_its_type() -> None:
    incoming = document("scan", mime="application/pdf")
    assert safe_file_name(incoming, check_incoming(incoming)) == "scan.pdf"
    assert safe_file_name(photo(), None) == "photo.jpg"


async def test_download_writes_under_unit_and_item_with_sha256(tmp_path: Path) -> None:
    asked: list[str] = []

    async def fetch(file_id: str) -> bytes:
        asked.append(file_id)
        return PDF

    stored = await download(
        fetch=fetch,
        data_dir=tmp_path,
        unit_id=7,
        item_id=3,
        incoming=document("../共建协议.pdf", mime="application/pdf"),
    )
    assert asked == ["BQACfile"]
    assert stored.path.startswith("7/3/")
    assert stored.path.endswith("_共建协议.pdf")
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
    assert stored.size == len(PDF)
    assert stored.mime_type == "application/pdf"
    assert (tmp_path / stored.path).read_bytes() == PDF
    assert listing(tmp_path / "7" / "3") == [Path(stored.path).name]


async def test_a_write_the_disk_refuses_leaves_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: each try left an empty `*_计划3.pdf.part` behind (27 in two minutes)."""

    async def fetch(file_id: str) -> bytes:
        return PDF

    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    for _ in range(2):
        with pytest.raises(OSError, match="No space left"):
            await download(
                fetch=fetch,
                data_dir=tmp_path,
                unit_id=1,
                item_id=3,
                incoming=document("计划3.pdf"),
            )
    assert listing(tmp_path / "1" / "3") == []


async def test_the_same_name_twice_gives_two_files(tmp_path: Path) -> None:
    async def fetch(file_id: str) -> bytes:
        return PDF

    incoming = document("计划.pdf")
    first = await download(fetch=fetch, data_dir=tmp_path, unit_id=1, item_id=1, incoming=incoming)
    second = await download(
        fetch=fetch, data_dir=tmp_path, unit_id=1, item_id=1, incoming=incoming
    )
    assert first.path != second.path
    await remove(tmp_path, second.path)
    assert (tmp_path / first.path).exists()
    assert not (tmp_path / second.path).exists()


async def test_nothing_is_fetched_for_a_refused_file(tmp_path: Path) -> None:
    async def fetch(file_id: str) -> bytes:
        raise AssertionError("must not download")

    with pytest.raises(FileRefused):
        await download(
            fetch=fetch,
            data_dir=tmp_path,
            unit_id=1,
            item_id=1,
            incoming=document("big.pdf", size=25 * 1024 * 1024),
        )
    assert listing(tmp_path) == []


async def test_a_program_disguised_as_a_pdf_is_refused_after_download(tmp_path: Path) -> None:
    async def fetch(file_id: str) -> bytes:
        return b"MZ\x90\x00" + bytes(100)

    with pytest.raises(FileRefused) as caught:
        await download(
            fetch=fetch, data_dir=tmp_path, unit_id=1, item_id=1, incoming=document("x.pdf")
        )
    assert caught.value.key == "files.executable"
    assert listing(tmp_path) == []


async def test_the_server_refusing_a_big_file_is_too_large(tmp_path: Path) -> None:
    async def refuses(file_id: str) -> bytes:
        raise DownloadTooLarge(file_id)

    async def oversized(file_id: str) -> bytes:
        return bytes(MAX_FILE_SIZE + 1)

    for fetch in (refuses, oversized):
        with pytest.raises(FileRefused) as caught:
            await download(
                fetch=fetch,
                data_dir=tmp_path,
                unit_id=1,
                item_id=1,
                incoming=document("unknown-size.pdf", size=None),
            )
        assert caught.value.key == "files.too_large"
    assert listing(tmp_path) == []


async def test_remove_never_leaves_data_dir(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(ValueError, match="outside DATA_DIR"):
        await remove(data_dir, "../outside.txt")
    assert outside.read_text() == "keep"

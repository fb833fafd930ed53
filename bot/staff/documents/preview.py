"""Page 1 of a document as a picture: LibreOffice makes a PDF, pdftoppm a PNG of its first page.

Both are optional: where either is not installed, there is simply no picture. LibreOffice
runs with a profile of its own in a temporary folder, so it never meets another instance
(the office's own, or a second conversion at the same time)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

CONVERT_TIMEOUT = 180.0
RESOLUTION = 110  # dots per inch: an A4 page about 900 px wide, legible on a phone


def can_preview() -> bool:
    """Tell whether LibreOffice and pdftoppm are both installed."""
    return shutil.which("soffice") is not None and shutil.which("pdftoppm") is not None


# The standard's fonts are rarely installed outside an office's own computers: for the
# picture, each is drawn with the nearest free font of its kind (serif for 仿宋 and 楷体,
# sans for 黑体), which fontconfig is told through a configuration of our own.
STAND_INS = {
    "方正小标宋简体": "Noto Serif CJK SC",
    "仿宋_GB2312": "Noto Serif CJK SC",
    "楷体_GB2312": "Noto Serif CJK SC",
    "宋体": "Noto Serif CJK SC",
    "黑体": "Noto Sans CJK SC",
}


def _fontconfig(folder: Path) -> Path:
    aliases = "".join(
        f'<alias binding="same"><family>{name}</family>'
        f"<prefer><family>{stand_in}</family></prefer></alias>"
        for name, stand_in in STAND_INS.items()
    )
    path = folder / "fonts.conf"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"{aliases}</fontconfig>",
        encoding="utf-8",
    )
    return path


async def _run(*command: str, home: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HOME": str(home), "FONTCONFIG_FILE": str(_fontconfig(home))},
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), CONVERT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{command[0]} took longer than {CONVERT_TIMEOUT:g}s") from None
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {output.decode(errors='replace')[-500:]}")


async def to_pdf(document: Path, out_dir: Path) -> Path:
    """Convert a .docx to PDF with LibreOffice (headless, a throwaway profile)."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="liaison-lo-") as scratch:
        profile = Path(scratch) / "profile"
        await _run(
            "soffice",
            "--headless",
            "--norestore",
            f"-env:UserInstallation={profile.as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out_dir),
            str(document),
            home=Path(scratch),
        )
    pdf = out_dir / f"{document.stem}.pdf"
    if not pdf.is_file():
        raise RuntimeError(f"LibreOffice wrote no PDF for {document.name}")
    return pdf


async def first_page_png(document: Path) -> bytes | None:
    """Draw page 1 as PNG; None where LibreOffice or pdftoppm is missing or fails."""
    if not can_preview():
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="liaison-preview-") as scratch:
            folder = Path(scratch)
            pdf = await to_pdf(document, folder)
            await _run(
                "pdftoppm",
                "-png",
                "-r",
                str(RESOLUTION),
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(pdf),
                str(folder / "page"),
                home=folder,
            )
            return (folder / "page.png").read_bytes()
    except (RuntimeError, OSError) as exc:
        log.warning("no picture of %s: %s", document.name, exc)
        return None

"""The national layout of official documents (GB/T 9704-2012, 党政机关公文格式) on python-docx.

A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm (a type area of 156 × 225 mm);
body in 三号 仿宋_GB2312 at a fixed 28 pt line (22 lines a page); the 发文机关标志 in red
小标宋 above a red rule; page numbers "— 1 —" in 四号 宋体 at the outer side; the 版记
between rules. The Chinese font names go into `w:eastAsia`, which is what Word and WPS read
for Chinese text; python-docx sets only the Latin names, so that attribute, paragraph rules
and the PAGE field are the few pieces of OOXML written here by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

import docx
from docx.document import Document
from docx.enum.section import WD_SECTION_START
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from docx.text.run import Run

# Font names as the office's computers have them (the standard's fonts).
TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING_FONT = "黑体"
SUBHEADING_FONT = "楷体_GB2312"
PAGE_NUMBER_FONT = "宋体"
LATIN_FONT = "Times New Roman"

# Chinese type sizes (号) in points.
SIZE_1 = Pt(26)  # 一号
SIZE_2 = Pt(22)  # 二号: the title
SIZE_3 = Pt(16)  # 三号: the body
SIZE_4 = Pt(14)  # 四号: page numbers, 版记, tables
SIZE_S4 = Pt(12)  # 小四: a 版记 line too long for 四号

LINE = Pt(28)  # fixed line spacing: 22 lines in the 225 mm type area
RED = RGBColor(0xFF, 0x00, 0x00)
RED_HEX = "FF0000"

PAGE_WIDTH, PAGE_HEIGHT = Mm(210), Mm(297)
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT = Mm(37), Mm(35), Mm(28), Mm(26)
TYPE_WIDTH = PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT  # 156 mm

# Characters that XML 1.0 cannot hold (a control character pasted into a reason, say).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """Drop the characters XML cannot hold, so python-docx can write the text."""
    return _NOT_XML.sub("", text)


def _width(text: str, size: Pt) -> int:
    """Estimate a line's width: a full width for a Chinese character, half for the rest."""
    return sum(size if ord(c) > 0x2E80 else size // 2 for c in text)


def set_fonts(run: Run, east_asian: str, size: Pt, *, latin: str | None = None) -> None:
    """Set a run's Chinese font (w:eastAsia), Latin font and size."""
    run.font.name = latin or east_asian
    run.font.size = size
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), east_asian)


def east_asian_font(run: Run) -> str | None:
    """Read a run's Chinese font as Word does (w:eastAsia)."""
    rpr = run._element.rPr
    if rpr is None or rpr.rFonts is None:
        return None
    value = rpr.rFonts.get(qn("w:eastAsia"))
    return str(value) if value is not None else None


def _fixed_spacing(paragraph: Paragraph, line: Pt = LINE) -> None:
    fmt = paragraph.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = line
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)


def _rule(paragraph: Paragraph, edge: str, *, eighths: int, color: str = "000000") -> None:
    """Draw a rule along the paragraph's top or bottom, as wide as the type area."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = ppr.find(qn("w:pBdr"))
    if borders is None:
        borders = OxmlElement("w:pBdr")
        ppr.append(borders)
    line = OxmlElement(f"w:{edge}")
    line.set(qn("w:val"), "single")
    line.set(qn("w:sz"), str(eighths))  # in eighths of a point
    line.set(qn("w:space"), "1")
    line.set(qn("w:color"), color)
    borders.append(line)


def _character_scale(run: Run, percent: int) -> None:
    """Narrow the characters of a run (w:w), as long 发文机关标志 are set."""
    scale = OxmlElement("w:w")
    scale.set(qn("w:val"), str(percent))
    run._element.get_or_add_rPr().append(scale)


def _page_field(paragraph: Paragraph, size: Pt) -> None:
    """Write the page number as "— N —": the PAGE field between two em dashes."""

    def text_run(text: str) -> None:
        set_fonts(paragraph.add_run(text), PAGE_NUMBER_FONT, size, latin=PAGE_NUMBER_FONT)

    text_run("— ")
    for kind, instruction in (("begin", None), (None, " PAGE "), ("separate", None)):
        run = paragraph.add_run()
        set_fonts(run, PAGE_NUMBER_FONT, size, latin=PAGE_NUMBER_FONT)
        if kind is not None:
            mark = OxmlElement("w:fldChar")
            mark.set(qn("w:fldCharType"), kind)
            run._element.append(mark)
        else:
            code = OxmlElement("w:instrText")
            code.set(qn("xml:space"), "preserve")
            code.text = instruction
            run._element.append(code)
    set_fonts(paragraph.add_run("1"), PAGE_NUMBER_FONT, size, latin=PAGE_NUMBER_FONT)
    end = paragraph.add_run()
    set_fonts(end, PAGE_NUMBER_FONT, size, latin=PAGE_NUMBER_FONT)
    mark = OxmlElement("w:fldChar")
    mark.set(qn("w:fldCharType"), "end")
    end._element.append(mark)
    text_run(" —")


class Gongwen:
    """One document in the 公文 layout, built paragraph by paragraph."""

    def __init__(self) -> None:
        self.doc: Document = docx.Document()
        section = self.doc.sections[0]
        section.start_type = WD_SECTION_START.NEW_PAGE
        section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
        section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
        section.left_margin, section.right_margin = MARGIN_LEFT, MARGIN_RIGHT
        section.header_distance = Mm(15)
        # The page number sits about 7 mm below the type area.
        section.footer_distance = Mm(22)
        normal = self.doc.styles["Normal"]
        normal.font.name = LATIN_FONT
        normal.font.size = SIZE_3
        normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
        # Odd pages carry the number on the right, even pages on the left (右空一字, 左空一字).
        self.doc.settings.odd_and_even_pages_header_footer = True
        odd = section.footer.paragraphs[0]
        odd.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        odd.paragraph_format.right_indent = SIZE_4
        _page_field(odd, SIZE_4)
        even = section.even_page_footer.paragraphs[0]
        even.alignment = WD_ALIGN_PARAGRAPH.LEFT
        even.paragraph_format.left_indent = SIZE_4
        _page_field(even, SIZE_4)
        # python-docx's template starts with no paragraph; each call below adds one.

    def _paragraph(
        self,
        text: str = "",
        *,
        font: str = BODY_FONT,
        size: Pt = SIZE_3,
        align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.JUSTIFY,
        indent: bool = False,
        latin: str | None = LATIN_FONT,
    ) -> Paragraph:
        paragraph = self.doc.add_paragraph()
        paragraph.alignment = align
        _fixed_spacing(paragraph)
        if indent:
            paragraph.paragraph_format.first_line_indent = size * 2
        if text:
            set_fonts(paragraph.add_run(clean(text)), font, size, latin=latin)
        return paragraph

    def blank(self) -> None:
        self._paragraph()

    def masthead(self, office_mark: str, number: str) -> None:
        """Write the 版头: the red 发文机关标志, the 发文字号 and the red rule below them."""
        paragraph = self.doc.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _fixed_spacing(paragraph, Pt(40))
        paragraph.paragraph_format.space_before = Pt(8)
        mark = paragraph.add_run(clean(office_mark))
        set_fonts(mark, TITLE_FONT, SIZE_1, latin=TITLE_FONT)
        mark.font.color.rgb = RED
        # At most the type area's width: a long name is narrowed, never wrapped.
        natural = SIZE_1 * len(office_mark)
        if natural > TYPE_WIDTH:
            _character_scale(mark, int(100 * TYPE_WIDTH / natural))
        self.blank()
        self.blank()
        numbered = self._paragraph(number, align=WD_ALIGN_PARAGRAPH.CENTER)
        numbered.paragraph_format.space_after = Pt(4)
        _rule(numbered, "bottom", eighths=12, color=RED_HEX)
        self.blank()

    def title(self, text: str) -> None:
        """Write the title in 二号 小标宋, centred, a blank line below; a newline in `text` is
        where a long title breaks (the office chooses, so that no word is cut)."""
        paragraph = self._paragraph(align=WD_ALIGN_PARAGRAPH.CENTER)
        for index, line in enumerate(clean(text).split("\n")):
            run = paragraph.add_run()
            set_fonts(run, TITLE_FONT, SIZE_2, latin=TITLE_FONT)
            if index:
                run.add_break()
            run.add_text(line)
        self.blank()

    def main_to(self, text: str) -> None:
        """Write the 主送机关 flush left (the text ends with a full-width colon)."""
        self._paragraph(text, align=WD_ALIGN_PARAGRAPH.LEFT)

    def body(self, text: str) -> Paragraph:
        """Add a body paragraph: 三号 仿宋, first line indented two characters."""
        return self._paragraph(text, indent=True)

    def heading(self, text: str) -> None:
        """Add a first-level heading (一、…) in 黑体."""
        self._paragraph(text, font=HEADING_FONT, indent=True, latin=HEADING_FONT)

    def subheading(self, lead: str, text: str = "") -> None:
        """Add a second-level heading (（一）…) in 楷体, the body text running on after it."""
        paragraph = self._paragraph(indent=True)
        set_fonts(paragraph.add_run(clean(lead)), SUBHEADING_FONT, SIZE_3, latin=LATIN_FONT)
        if text:
            set_fonts(paragraph.add_run(clean(text)), BODY_FONT, SIZE_3, latin=LATIN_FONT)

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]
    ) -> Table:
        """Add a ruled table in 四号 仿宋 across the type area (widths in millimetres)."""
        table = self.doc.add_table(rows=1, cols=len(headers))
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        for column, width in zip(table.columns, widths, strict=True):
            column.width = Mm(width)  # the grid, which LibreOffice and WPS go by

        def fill(cells: Sequence[_Cell], values: Sequence[str], *, bold: bool) -> None:
            for cell, value, width in zip(cells, values, widths, strict=True):
                cell.width = Mm(width)
                lines = clean(value).split("\n")
                first = cell.paragraphs[0]
                for index, line in enumerate(lines):
                    paragraph = first if index == 0 else cell.add_paragraph()
                    _fixed_spacing(paragraph, Pt(22))
                    if bold:
                        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
                    run = paragraph.add_run(line)
                    set_fonts(run, HEADING_FONT if bold else BODY_FONT, SIZE_4, latin=LATIN_FONT)

        fill(table.rows[0].cells, headers, bold=True)
        for values in rows:
            fill(table.add_row().cells, values, bold=False)
        return cast(Table, table)

    def signature(self, signer: str, day_text: str) -> None:
        """Sign: the 落款 and the 成文日期 on the right, the date 右空四字."""
        self.blank()
        self.blank()
        signed = self._paragraph(signer, align=WD_ALIGN_PARAGRAPH.RIGHT)
        signed.paragraph_format.right_indent = SIZE_3 * 2
        signed.paragraph_format.keep_with_next = True
        dated = self._paragraph(day_text, align=WD_ALIGN_PARAGRAPH.RIGHT)
        dated.paragraph_format.right_indent = SIZE_3 * 4

    def record(self, copy_to: str, issuer: str, issued: str) -> None:
        """Write the 版记: 抄送 and 印发机关/日期 between rules (thick outside, thin between)."""
        self.blank()
        self.blank()
        lines: list[Paragraph] = []
        if copy_to:
            copied = self._paragraph(copy_to, size=SIZE_4, align=WD_ALIGN_PARAGRAPH.LEFT)
            copied.paragraph_format.left_indent = SIZE_4
            copied.paragraph_format.first_line_indent = Pt(0)
            lines.append(copied)
        printed = self._paragraph(align=WD_ALIGN_PARAGRAPH.LEFT)
        printed.paragraph_format.left_indent = SIZE_4
        printed.paragraph_format.right_indent = SIZE_4
        # The issuer on the left, the date on the right (a right tab at the line's end), in
        # 四号 unless the two with a character between them would not fit on one line.
        size = (
            SIZE_4
            if _width(issuer + "　" + issued, SIZE_4) <= TYPE_WIDTH - SIZE_4 * 2
            else SIZE_S4
        )
        printed.paragraph_format.tab_stops.add_tab_stop(
            TYPE_WIDTH - SIZE_4 * 2, WD_TAB_ALIGNMENT.RIGHT
        )
        set_fonts(printed.add_run(clean(issuer)), BODY_FONT, size, latin=LATIN_FONT)
        set_fonts(printed.add_run("\t" + clean(issued)), BODY_FONT, size, latin=LATIN_FONT)
        lines.append(printed)
        _rule(lines[0], "top", eighths=8)
        for paragraph in lines[:-1]:
            _rule(paragraph, "bottom", eighths=4)
        _rule(lines[-1], "bottom", eighths=8)

"""A4 report PDFs (lab tables, imaging text) with an embedded, subsetted CJK font (fpdf2).

fpdf2 embeds only the glyphs a document uses (a subset of a few kB instead of the 5 MB
WenQuanYi collection) and writes a ToUnicode map, so the text stays searchable. The output is
byte-for-byte reproducible for the same report and ``created_at``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF, FontFace
from fpdf.enums import TableCellFillMode

from kiosk.printing.documents import (
    Flag,
    ImagingReport,
    LabPanel,
    LabReport,
    Language,
    Patient,
)
from kiosk.printing.fonts import ReportFonts
from kiosk.printing.labels import label

FONT = "cjk"
_BODY_SIZE = 10
_FLAG_STYLES = {
    Flag.HIGH: FontFace(color=(176, 0, 32), fill_color=(253, 226, 228)),
    Flag.LOW: FontFace(color=(0, 70, 160), fill_color=(222, 235, 252)),
    Flag.ABNORMAL: FontFace(color=(176, 0, 32), fill_color=(253, 226, 228)),
}
_HEADINGS = FontFace(fill_color=(230, 230, 230))
#: item, result, unit, reference range, flag (mm; A4 minus 15 mm margins is 180 mm).
_COLUMNS = (70, 28, 27, 40, 15)


class _ReportPDF(FPDF):
    """An A4 page with a page-number footer in the report's language."""

    def __init__(self, fonts: ReportFonts, language: Language) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.language = language
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.add_font(FONT, fname=str(fonts.main))
        fallbacks = []
        for index, path in enumerate(fonts.fallbacks):
            self.add_font(f"{FONT}-fallback-{index}", fname=str(path))
            fallbacks.append(f"{FONT}-fallback-{index}")
        if fallbacks:
            self.set_fallback_fonts(fallbacks)
        self.set_lang("zh-CN" if language == "zh" else "en")

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, size=8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, label("disclaimer", self.language), align="L")
        self.set_x(self.l_margin)
        text = label("page", self.language, page=self.page_no(), pages="{nb}")
        self.cell(0, 5, text, align="R")
        self.set_text_color(0, 0, 0)


def render_lab_report(
    report: LabReport,
    *,
    language: Language,
    fonts: ReportFonts,
    created_at: datetime | None = None,
) -> bytes:
    """The lab report as an A4 PDF: one table per panel, H/L/A results highlighted."""
    pdf = _start(fonts, language, report.hospital.in_(language), label("lab_report", language))
    pdf.set_title(f"{label('lab_report', language)} {report.report_number}")
    _patient_block(pdf, report.patient, report.report_number, report.reported_at, language)
    _department_line(pdf, report.department.in_(language) if report.department else "", language)
    for panel in report.panels:
        _panel_table(pdf, panel, language)
    pdf.set_font(FONT, size=8)
    pdf.cell(0, 5, label("flag_legend", language), new_x="LMARGIN", new_y="NEXT")
    return _finish(pdf, created_at)


def render_imaging_report(
    report: ImagingReport,
    *,
    language: Language,
    fonts: ReportFonts,
    created_at: datetime | None = None,
) -> bytes:
    """The imaging report as an A4 PDF: exam, findings and impression as wrapped text."""
    pdf = _start(fonts, language, report.hospital.in_(language), label("imaging_report", language))
    pdf.set_title(f"{report.title.in_(language)} {report.report_number}")
    _patient_block(pdf, report.patient, report.report_number, report.reported_at, language)
    _department_line(pdf, report.department.in_(language) if report.department else "", language)
    pdf.set_font(FONT, size=13)
    exam = report.title.in_(language)
    if report.modality:
        exam = f"{exam}  ({label('modality', language)}: {report.modality})"
    pdf.multi_cell(0, 8, exam, new_x="LMARGIN", new_y="NEXT")
    for key, text in (("findings", report.findings), ("impression", report.impression)):
        if not text.strip():
            continue
        pdf.ln(2)
        pdf.set_font(FONT, size=12)
        pdf.cell(0, 7, label(key, language), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=_BODY_SIZE + 1)
        pdf.multi_cell(0, 6, text.strip(), new_x="LMARGIN", new_y="NEXT")
    if report.radiologist:
        pdf.ln(4)
        pdf.set_font(FONT, size=_BODY_SIZE)
        pdf.cell(0, 6, f"{label('radiologist', language)}: {report.radiologist}", align="R")
    return _finish(pdf, created_at)


def _start(fonts: ReportFonts, language: Language, hospital: str, title: str) -> _ReportPDF:
    pdf = _ReportPDF(fonts, language)
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.cell(0, 9, hospital, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=13)
    pdf.cell(0, 8, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    return pdf


def _patient_block(
    pdf: FPDF, patient: Patient, number: str, reported_at: datetime, language: Language
) -> None:
    pdf.set_font(FONT, size=_BODY_SIZE)
    fields = [
        (label("patient", language), patient.name),
        (label("patient_number", language), patient.number),
        (label("sex", language), patient.sex),
        (label("age", language), patient.age),
        (label("report_number", language), number),
        (label("reported_at", language), reported_at.strftime("%Y-%m-%d %H:%M")),
    ]
    shown = [(name, value) for name, value in fields if value]
    width = (pdf.w - pdf.l_margin - pdf.r_margin) / 3
    for index, (name, value) in enumerate(shown):
        last_in_row = index % 3 == 2 or index == len(shown) - 1
        pdf.cell(
            width,
            6,
            f"{name}: {value}",
            new_x="LMARGIN" if last_in_row else "RIGHT",
            new_y="NEXT" if last_in_row else "TOP",
        )


def _department_line(pdf: FPDF, department: str, language: Language) -> None:
    if department:
        pdf.cell(0, 6, f"{label('department', language)}: {department}")
        pdf.ln(6)
    y = pdf.get_y() + 1
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.ln(3)


def _panel_table(pdf: FPDF, panel: LabPanel, language: Language) -> None:
    pdf.set_font(FONT, size=12)
    pdf.cell(0, 8, panel.title.in_(language), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=_BODY_SIZE)
    with pdf.table(
        col_widths=_COLUMNS,
        width=sum(_COLUMNS),
        text_align=("LEFT", "RIGHT", "LEFT", "LEFT", "CENTER"),
        headings_style=_HEADINGS,
        cell_fill_mode=TableCellFillMode.NONE,
        line_height=6,
        first_row_as_headings=True,
    ) as table:
        table.row(
            [label(key, language) for key in ("item", "result", "unit", "reference_range", "flag")]
        )
        for item in panel.items:
            style = _FLAG_STYLES.get(item.flag)
            name = item.name.in_(language)
            row = table.row()
            row.cell(f"{name} ({item.code})" if item.code else name)
            row.cell(item.result, style=style)
            row.cell(item.unit)
            row.cell(item.reference_range)
            row.cell(item.flag.value, style=style)
    pdf.ln(3)


def _finish(pdf: FPDF, created_at: datetime | None) -> bytes:
    pdf.set_creation_date(created_at or datetime.now(UTC))
    return bytes(pdf.output())

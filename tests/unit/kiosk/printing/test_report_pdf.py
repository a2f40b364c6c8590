"""Report PDFs: the text is there and extractable, the CJK font is embedded as a subset."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from kiosk.printing.documents import LabReport
from kiosk.printing.errors import PrintError
from kiosk.printing.fonts import DEFAULT_CJK_FONTS, find_fonts
from kiosk.printing.report_pdf import render_imaging_report, render_lab_report
from tests.unit.kiosk.printing.samples import CREATED_AT, PATIENT, imaging_report, lab_report

FONTS = find_fonts()
HIGH_FILL = "0.9922 0.8863 0.8941 rg"  # (253, 226, 228): the background of H and A results
LOW_FILL = "0.8706 0.9216 0.9882 rg"  # (222, 235, 252): the background of L results


def _reader(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in _reader(data).pages)


def test_chinese_lab_report_has_labels_values_and_the_full_name() -> None:
    text = _text(render_lab_report(lab_report(), language="zh", fonts=FONTS))

    for expected in (
        "示范医院", "检验报告单", "姓名: 张三丰", "病案号: P000123", "科室: 内分泌科",
        "血常规", "项目", "参考范围", "白细胞计数 (WBC)", "11.2", "10^9/L", "3.5–9.5",
        "血红蛋白 (HGB)", "102", "尿蛋白 (PRO)", "阳性(+)", "阴性", "第 1 页 / 共 1 页",
    ):  # fmt: skip
        assert expected in text, expected


def test_english_lab_report_uses_english_labels_and_names() -> None:
    text = _text(render_lab_report(lab_report(), language="en", fonts=FONTS))

    for expected in ("Laboratory Report", "Patient: 张三丰", "Reference range",
                     "White blood cells (WBC)", "Endocrinology", "Page 1 of 1"):  # fmt: skip
        assert expected in text, expected
    assert "检验报告单" not in text


def test_flagged_results_are_highlighted_and_normal_ones_are_not() -> None:
    def content(report: LabReport) -> str:
        data = render_lab_report(report, language="zh", fonts=FONTS, created_at=CREATED_AT)
        return _reader(data).pages[0].get_contents().get_data().decode("latin-1")

    flagged = content(lab_report(flagged=True))
    normal = content(lab_report(flagged=False))

    assert HIGH_FILL in flagged and LOW_FILL in flagged
    assert HIGH_FILL not in normal and LOW_FILL not in normal


def test_cjk_font_is_embedded_as_a_small_subset() -> None:
    reader = _reader(render_lab_report(lab_report(), language="zh", fonts=FONTS))

    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert len(fonts) == 1
    (font,) = (ref.get_object() for ref in fonts.values())
    # A subset's name carries a six-letter tag (ISO 32000-1 §9.6.4).
    assert re.fullmatch(r"/[A-Z]{6}\+WenQuanYiMicroHei", font["/BaseFont"])
    descendant = font["/DescendantFonts"][0].get_object()
    embedded = descendant["/FontDescriptor"].get_object()["/FontFile2"].get_object().get_data()
    assert 1_000 < len(embedded) < 100_000
    assert FONTS.main.stat().st_size > 4_000_000  # the whole collection is ~5 MB
    assert "/ToUnicode" in font


def test_same_report_and_date_give_identical_bytes() -> None:
    first = render_lab_report(lab_report(), language="zh", fonts=FONTS, created_at=CREATED_AT)
    second = render_lab_report(lab_report(), language="zh", fonts=FONTS, created_at=CREATED_AT)

    assert first == second
    assert _reader(first).metadata["/CreationDate"] == "D:20261127100000Z"


def test_imaging_report_wraps_long_findings_over_pages() -> None:
    findings = "双肺纹理清晰，未见明显实变影。心影大小形态正常。" * 120
    data = render_imaging_report(imaging_report(findings), language="zh", fonts=FONTS)

    reader = _reader(data)
    assert len(reader.pages) >= 2
    text = _text(data)
    pages = f"共 {len(reader.pages)} 页"
    for expected in ("影像检查报告", "胸部正位片", "检查类型: DR", "影像所见", "诊断意见",
                     "胸部未见明显异常。", "报告医师: 李医生", pages):  # fmt: skip
        assert expected in text, expected
    assert PATIENT.name in reader.pages[0].extract_text()


def test_first_font_found_is_the_main_one_and_missing_fonts_are_skipped(tmp_path: Path) -> None:
    fonts = find_fonts([tmp_path / "missing.ttf", *DEFAULT_CJK_FONTS])

    assert fonts.main == FONTS.main
    assert tmp_path / "missing.ttf" not in fonts.fallbacks


def test_no_font_at_all_is_a_print_error_naming_the_paths(tmp_path: Path) -> None:
    with pytest.raises(PrintError, match="missing.ttc"):
        find_fonts([tmp_path / "missing.ttc"])

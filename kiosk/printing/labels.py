"""Fixed wording of the printouts in Chinese and English (the data brings its own names)."""

from __future__ import annotations

from kiosk.printing.documents import Language

_LABELS: dict[str, tuple[str, str]] = {
    "lab_report": ("检验报告单", "Laboratory Report"),
    "imaging_report": ("影像检查报告", "Imaging Report"),
    "patient": ("姓名", "Patient"),
    "patient_number": ("病案号", "Patient No."),
    "sex": ("性别", "Sex"),
    "age": ("年龄", "Age"),
    "department": ("科室", "Department"),
    "report_number": ("报告编号", "Report No."),
    "reported_at": ("报告时间", "Reported"),
    "modality": ("检查类型", "Modality"),
    "item": ("项目", "Item"),
    "result": ("结果", "Result"),
    "unit": ("单位", "Unit"),
    "reference_range": ("参考范围", "Reference range"),
    "flag": ("提示", "Flag"),
    "findings": ("影像所见", "Findings"),
    "impression": ("诊断意见", "Impression"),
    "radiologist": ("报告医师", "Radiologist"),
    "flag_legend": ("H 偏高  L 偏低  A 异常", "H high  L low  A abnormal"),
    "disclaimer": (
        "本报告仅供临床参考，如有疑问请咨询医生。",
        "For clinical reference; ask your doctor about these results.",
    ),
    "page": ("第 {page} 页 / 共 {pages} 页", "Page {page} of {pages}"),
    "queue_number": ("您的排队号", "Your queue number"),
    "waiting_ahead": ("前面还有 {count} 人", "{count} waiting ahead of you"),
    "issued_at": ("取号时间", "Issued"),
    "keep_ticket": ("请留意叫号屏幕，过号请重新取号。", "Watch the call screen; rejoin if missed."),
}


def label(key: str, language: Language, **values: object) -> str:
    """The printout wording for key in language, with {placeholders} filled from values."""
    zh, en = _LABELS[key]
    text = zh if language == "zh" else en
    return text.format(**values) if values else text

"""Text sizes, touch-target sizes, colours and items per page, normal and elder mode.

Elder mode follows MIIT's 2021 ageing-friendly app guideline (《移动互联网应用（APP）适老化通用
设计规范》): body text at least 18, the largest text at least 30, touch targets at least 60 × 60
dp, text contrast at least 4.5 : 1 and fewer items per screen. Sizes are Kivy ``sp``/``dp``.
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[float, float, float]


def hex_rgb(value: str) -> RGB:
    """ "#1a2b3c" → (r, g, b) in 0–1 as Kivy wants them."""
    value = value.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"not an #rrggbb colour: {value!r}")
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b)


def _luminance(colour: RGB) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21)."""
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@dataclass(frozen=True)
class Theme:
    """Everything that changes between normal and elder mode."""

    name: str
    body_sp: float
    title_sp: float
    huge_sp: float
    button_sp: float
    touch_dp: float
    key_dp: float
    items_per_page: int
    background: str = "#f4f6f9"
    surface: str = "#ffffff"
    text: str = "#1b1f24"
    muted: str = "#4a5360"
    primary: str = "#0a58a8"
    on_primary: str = "#ffffff"
    danger: str = "#b3261e"
    ok: str = "#1e6b34"
    disabled: str = "#6b7280"

    def rgba(self, name: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
        """A theme colour by field name as Kivy RGBA."""
        return (*hex_rgb(getattr(self, name)), alpha)

    def text_pairs(self) -> list[tuple[str, str]]:
        """(foreground, background) colour fields that carry text on screen."""
        return [
            ("text", "background"),
            ("text", "surface"),
            ("muted", "background"),
            ("muted", "surface"),
            ("on_primary", "primary"),
            ("on_primary", "danger"),
            ("on_primary", "ok"),
            ("on_primary", "disabled"),
            ("danger", "surface"),
            ("ok", "surface"),
            ("primary", "surface"),
        ]


NORMAL = Theme(
    name="normal",
    body_sp=22,
    title_sp=34,
    huge_sp=64,
    button_sp=24,
    touch_dp=64,
    key_dp=72,
    items_per_page=4,
)

ELDER = Theme(
    name="elder",
    body_sp=28,
    title_sp=40,
    huge_sp=96,
    button_sp=30,
    touch_dp=80,
    key_dp=84,
    items_per_page=2,
    background="#e9edf2",
    text="#000000",
    muted="#2b2b2b",
    primary="#003d7a",
    danger="#8c1d18",
    ok="#0f4d22",
    disabled="#4b5563",
)


def theme_for(elder: bool) -> Theme:
    """The elder theme or the normal one."""
    return ELDER if elder else NORMAL

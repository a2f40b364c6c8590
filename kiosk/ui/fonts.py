"""A CJK-capable font for every Kivy label and text input."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from kiosk.printing.fonts import DEFAULT_CJK_FONTS

log = logging.getLogger(__name__)


def register_cjk_font(candidates: Sequence[Path] = DEFAULT_CJK_FONTS) -> Path | None:
    """Make the first installed CJK font Kivy's default (Roboto has no hanzi); None if none."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    for path in candidates:
        if path.is_file():
            LabelBase.register(DEFAULT_FONT, str(path))
            log.info("kiosk font: %s", path)
            return path
    log.warning(
        "no CJK font found (searched %s): Chinese shows as boxes; "
        "install fonts-wqy-microhei or fonts-noto-cjk",
        ", ".join(str(p) for p in candidates),
    )
    return None

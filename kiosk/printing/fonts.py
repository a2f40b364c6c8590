"""Which font files the report PDFs embed: the first CJK font found, the rest as fallbacks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kiosk.printing.errors import PrintError

#: Debian package paths, best first. WenQuanYi Micro Hei (fonts-wqy-microhei) has TrueType
#: outlines, covers GB18030's common hanzi and Latin, and is what the tests embed.
DEFAULT_CJK_FONTS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)


@dataclass(frozen=True)
class ReportFonts:
    """The main font file and the fallbacks for glyphs it lacks."""

    main: Path
    fallbacks: tuple[Path, ...] = ()


def find_fonts(candidates: Sequence[Path] = DEFAULT_CJK_FONTS) -> ReportFonts:
    """The candidates that exist, in order; PrintError naming them when none does."""
    present = tuple(path for path in candidates if path.is_file())
    if not present:
        searched = ", ".join(str(path) for path in candidates) or "(none configured)"
        raise PrintError(
            f"no CJK font for report PDFs; install fonts-wqy-microhei or configure one "
            f"(searched: {searched})"
        )
    return ReportFonts(main=present[0], fallbacks=present[1:])

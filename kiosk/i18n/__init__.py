"""The kiosk's wording in Chinese and English (``zh.json``, ``en.json``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")


@cache
def catalogue(language: Language) -> dict[str, str]:
    """Every string of one language, by key."""
    text = resources.files(__package__).joinpath(f"{language}.json").read_text("utf-8")
    return dict(json.loads(text))


def translate(key: str, language: Language, **values: object) -> str:
    """The text for key in language with {placeholders} filled; the key itself if unknown."""
    text = catalogue(language).get(key, key)
    return text.format(**values) if values else text

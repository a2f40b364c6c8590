"""Spoken prompts in elder mode through espeak-ng, when it is installed (non-blocking)."""

from __future__ import annotations

import logging
import shutil
import subprocess

from kiosk.i18n import Language

log = logging.getLogger(__name__)

#: espeak-ng voices: Mandarin and English.
VOICES: dict[Language, str] = {"zh": "cmn", "en": "en"}


def speech_command(text: str, language: Language, executable: str = "espeak-ng") -> list[str]:
    """The espeak-ng command line that says text (slowly: 140 words a minute)."""
    return [executable, "-v", VOICES[language], "-s", "140", "--", text]


class Speaker:
    """Says one prompt at a time; a new prompt cuts the previous one short."""

    def __init__(self, enabled: bool = True) -> None:
        self.executable = shutil.which("espeak-ng") if enabled else None
        self._process: subprocess.Popen[bytes] | None = None
        if enabled and self.executable is None:
            log.info("espeak-ng not installed: no spoken prompts")

    @property
    def available(self) -> bool:
        """True when prompts are spoken."""
        return self.executable is not None

    def say(self, text: str, language: Language) -> None:
        """Start saying text; returns at once."""
        if self.executable is None or not text:
            return
        self.stop()
        try:
            self._process = subprocess.Popen(
                speech_command(text, language, self.executable),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError as error:
            log.warning("espeak-ng failed, prompts off: %s", error)
            self.executable = None

    def stop(self) -> None:
        """Stop the current prompt, if any."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

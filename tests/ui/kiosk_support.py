"""Kiosk UI tests: the real API as a process over a seeded demo hospital, Xvfb, and a driver
that runs the real Kivy app in its own process and touches it like a patient.

A scenario is a generator function ``scenario(driver)`` in a test module; it yields seconds to
wait (frames keep rendering meanwhile) and uses the driver to tap widgets by ``tag``, type
like a barcode scanner, read the texts on screen and take screenshots. The subprocess writes
what it recorded to JSON for the test to assert on (Kivy cannot restart in one process).

    python -m tests.ui.kiosk_support tests.ui.test_kiosk_flow:scenario out.json
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Scenario = Callable[["Driver"], Generator[float, None, None]]

START_TIMEOUT_S = 30.0
KIOSK_TIMEOUT_S = 60.0
PAYMENT_URL = "https://pay.example.cn/checkout"


# --- test-process side ------------------------------------------------------------------------


@dataclass
class KioskBackend:
    """``caredge api`` on a SQLite file seeded with the demo hospital (now, Shanghai time)."""

    workdir: Path
    api_port: int = 0
    database_url: str = ""
    demo: Any = None
    engine: Any = None
    _process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        from cloud.db import make_engine, make_sessionmaker, transaction
        from cloud.hospital.demo_seed import seed_demo
        from cloud.migrate import upgrade
        from cloud.settings import Settings
        from tests.fixtures.ports import free_port

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.database_url = f"sqlite:///{self.workdir / 'kiosk.db'}"
        secret = secrets.token_urlsafe(32)
        upgrade(self.database_url)
        self.engine = make_engine(self.database_url)
        settings = Settings(database_url=self.database_url, secret_key=secret)
        with transaction(make_sessionmaker(self.engine)) as session:
            self.demo = seed_demo(
                session, now=datetime.now(UTC), zone=settings.hospital_zone, secret=secret
            )
        self.api_port = free_port()
        env = {
            **os.environ,
            "CAREDGE_ENV": "development",
            "CAREDGE_VAR_DIR": str(self.workdir),
            "CAREDGE_DATABASE_URL": self.database_url,
            "CAREDGE_TSDB_URL": "sql",
            "CAREDGE_API_HOST": "127.0.0.1",
            "CAREDGE_API_PORT": str(self.api_port),
            "CAREDGE_SECRET_KEY": secret,
            "CAREDGE_PAYMENT_URL": PAYMENT_URL,
            "CAREDGE_LOG_LEVEL": "WARNING",
        }
        with (self.workdir / "api.log").open("wb") as log:
            self._process = subprocess.Popen(
                [str(Path(sys.executable).with_name("caredge")), "api"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"caredge api exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"caredge api not ready:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self.engine is not None:
            self.engine.dispose()

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "api.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def sessions(self) -> Any:
        from cloud.db import make_sessionmaker

        return make_sessionmaker(self.engine)


@contextmanager
def kiosk_backend(workdir: Path) -> Iterator[KioskBackend]:
    """A started KioskBackend, stopped afterwards."""
    backend = KioskBackend(workdir)
    try:
        backend.start()
        yield backend
    finally:
        backend.stop()


@contextmanager
def xvfb() -> Iterator[str]:
    """An Xvfb server on a free display (Mesa's llvmpipe renders GL there); yields DISPLAY."""
    read, write = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            display = pipe.readline().strip()
        if not display:
            raise RuntimeError("Xvfb did not start (apt-get install xvfb libgl1-mesa-dri)")
        yield f":{display}"
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class KioskRun:
    """What a scenario recorded, and the kiosk process's log."""

    ok: bool
    error: str
    records: dict[str, Any]
    log: str
    seconds: float


def run_kiosk(
    scenario: str,
    *,
    display: str,
    workdir: Path,
    env: dict[str, str],
    timeout: float = KIOSK_TIMEOUT_S,
) -> KioskRun:
    """Run the kiosk app with scenario ("module:function") in a new process."""
    out = workdir / f"{scenario.rsplit(':', 1)[1]}.json"
    out.unlink(missing_ok=True)
    full_env = {
        **os.environ,
        "DISPLAY": display,
        "KIVY_HOME": str(workdir / "kivy-home"),
        "CAREDGE_KIOSK_FULLSCREEN": "false",
        "CAREDGE_KIOSK_SPEECH": "false",
        **env,
    }
    full_env.pop("KIVY_GL_BACKEND", None)  # the real GL (Mesa), never "mock"
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "tests.ui.kiosk_support", scenario, str(out)],
        env=full_env,
        capture_output=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
    )
    seconds = time.monotonic() - started
    log = (completed.stdout + completed.stderr).decode(errors="replace")
    if not out.exists():
        return KioskRun(
            False, f"kiosk exited {completed.returncode} without a report", {}, log, seconds
        )
    report = json.loads(out.read_text())
    return KioskRun(report["ok"], report["error"], report["records"], log, seconds)


# --- kiosk-process side -----------------------------------------------------------------------


@dataclass
class Driver:
    """Touches, keystrokes, screen texts and screenshots inside the running kiosk app."""

    app: Any
    records: dict[str, Any] = field(default_factory=dict)
    _shot: Path | None = None

    def widgets(self) -> Iterator[Any]:
        """Every widget on the window: the app's tree and open modal views."""
        from kivy.core.window import Window

        stack = list(Window.children)
        while stack:
            widget = stack.pop()
            yield widget
            stack.extend(widget.children)

    def visible(self) -> Iterator[Any]:
        """Widgets on screen: the current screen's, the header, status bar and dialogs."""
        manager = self.app.root.ids.screens
        hidden = [s for s in manager.screens if s is not manager.current_screen]
        for widget in self.widgets():
            if widget in hidden or any(_is_inside(widget, s) for s in hidden):
                continue
            if getattr(widget, "opacity", 1) == 0:
                continue
            yield widget

    def find(self, tag: str) -> Any:
        """The visible widget with that tag (AssertionError naming the screen if none)."""
        for widget in self.visible():
            if getattr(widget, "tag", None) == tag:
                return widget
        raise AssertionError(f"no widget tagged {tag!r} on screen {self.screen()}: {self.texts()}")

    def screen(self) -> str:
        return str(self.app.root.ids.screens.current)

    def texts(self) -> list[str]:
        """Every non-empty text on screen (labels, buttons, text inputs, hint texts excluded)."""
        return [
            w.text for w in self.visible() if isinstance(getattr(w, "text", None), str) and w.text
        ]

    def all_texts(self) -> list[str]:
        """Every text anywhere in the window tree, hidden screens included."""
        from kivy.uix.screenmanager import ScreenManager

        texts = [
            w.text for w in self.widgets() if isinstance(getattr(w, "text", None), str) and w.text
        ]
        for widget in self.widgets():
            if isinstance(widget, ScreenManager):
                for screen in widget.screens:
                    stack = [screen]
                    while stack:
                        w = stack.pop()
                        if isinstance(getattr(w, "text", None), str) and w.text:
                            texts.append(w.text)
                        stack.extend(w.children)
        return texts

    def tap(self, tag: str) -> Generator[float, None, None]:
        """Touch the middle of the widget tagged tag, as a finger does, and let it redraw."""
        from kivy.tests.common import UnitTestTouch

        yield 0.05  # let pending layout passes run first: positions settle a frame later
        widget = self.find(tag)
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        yield 0.05
        touch.touch_up()
        yield 0.15

    def scan(self, text: str) -> Generator[float, None, None]:
        """Type text and Enter as a keyboard-wedge barcode scanner does."""
        from kivy.core.window import Window

        for char in text:
            Window.dispatch("on_key_down", ord(char), 0, char, [])
            Window.dispatch("on_textinput", char)
            Window.dispatch("on_key_up", ord(char), 0)
        Window.dispatch("on_key_down", 13, 40, None, [])
        Window.dispatch("on_key_up", 13, 40)
        yield 0.3

    def screenshot(self, path: Path | str) -> Generator[float, None, None]:
        """Save the next frame to path (inside on_flip: from a Clock callback it is black)."""
        from kivy.core.window import Window

        self._shot = Path(path)
        self._shot.parent.mkdir(parents=True, exist_ok=True)
        Window.canvas.ask_update()
        deadline = time.monotonic() + 5
        while self._shot is not None and time.monotonic() < deadline:
            Window.canvas.ask_update()
            yield 0.05
        if self._shot is not None:
            raise AssertionError(f"no frame drawn for screenshot {path}")

    def on_flip(self, window: Any) -> None:
        if self._shot is None:
            return
        saved = window.screenshot(str(self._shot.with_suffix("")) + ".png")
        if saved:
            os.replace(saved, self._shot)
        self._shot = None

    def until(
        self, check: Callable[[], bool], timeout: float = 10.0
    ) -> Generator[float, None, None]:
        """Wait (rendering) until check() is true."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out on screen {self.screen()}: {self.texts()}")
            yield 0.1

    def record(self, name: str, value: Any = None) -> None:
        """Keep value (the screen's texts by default) for the test."""
        self.records[name] = self.texts() if value is None else value


def _is_inside(widget: Any, ancestor: Any) -> bool:
    parent = widget.parent
    while parent is not None and parent is not parent.parent:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def main(target: str, out: Path) -> int:
    """Run the kiosk app from CAREDGE_KIOSK_* with the scenario; write the records to out."""
    started = time.monotonic()
    from kiosk.config import KioskConfig
    from kiosk.ui.run import build_app

    app = build_app(KioskConfig())
    from kivy.clock import Clock
    from kivy.core.window import Window

    module, name = target.split(":")
    scenario: Scenario = getattr(importlib.import_module(module), name)
    driver = Driver(app)
    result: dict[str, Any] = {"ok": False, "error": "scenario never ran"}
    steps = scenario(driver)

    def first_frame(*_args: Any) -> None:
        Window.unbind(on_flip=first_frame)
        driver.records["first_frame_s"] = time.monotonic() - started
        Clock.schedule_once(step, 0.5)  # the first layout passes are done by then

    def step(_dt: float) -> None:
        try:
            wait = next(steps)
        except StopIteration:
            result.update(ok=True, error="")
            app.stop()
            return
        except BaseException:
            result.update(ok=False, error=traceback.format_exc())
            app.stop()
            return
        Clock.schedule_once(step, wait)

    Window.bind(on_flip=first_frame)
    Window.bind(on_flip=driver.on_flip)
    try:
        app.run()
    finally:
        out.write_text(json.dumps({**result, "records": driver.records}, ensure_ascii=False))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))

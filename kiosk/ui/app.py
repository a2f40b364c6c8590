"""The Kivy app: wires the controller to the screens, the idle timer, speech and the window."""

from __future__ import annotations

import logging
import time
from importlib import resources
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import (
    BooleanProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.modalview import ModalView
from kivy.uix.widget import Widget

from kiosk.config import KioskConfig
from kiosk.i18n import Language, translate
from kiosk.idle import IdleTimer
from kiosk.session import KioskController
from kiosk.speech import Speaker
from kiosk.theme import theme_for
from kiosk.ui import screens, widgets

log = logging.getLogger(__name__)

KV_FILES = (
    "widgets.kv",
    "root.kv",
    "welcome.kv",
    "identify.kv",
    "patient.kv",
    "feedback.kv",
)
#: Seconds the thank-you screen stays before the welcome screen returns (it shows no data).
THANKS_SECONDS = 8.0


class IdleDialog(ModalView):
    """The "are you still there?" countdown."""

    seconds = NumericProperty(0)


def load_layouts() -> None:
    """Register the widget classes and load the kv files once."""
    for module in (widgets, screens):
        for name in dir(module):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, Widget):
                Factory.register(name, cls=value)
    Factory.register("IdleDialog", cls=IdleDialog)
    folder = resources.files("kiosk") / "kv"
    for name in KV_FILES:
        Builder.load_string(folder.joinpath(name).read_text("utf-8"), filename=name)


class KioskApp(App):
    """One kiosk on one screen."""

    lang = StringProperty("zh")
    elder = BooleanProperty(False)
    theme = ObjectProperty(theme_for(False))
    online = BooleanProperty(False)
    patient_line = StringProperty("")
    message_text = StringProperty("")
    message_level = StringProperty("info")
    hospital_name = StringProperty("")

    def __init__(
        self, controller: KioskController, config: KioskConfig, speaker: Speaker, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.controller = controller
        self.kiosk_config = config
        self.speaker = speaker
        self.lang = controller.language
        self.elder = controller.elder
        self.theme = theme_for(self.elder)
        self.idle = IdleTimer(config.idle_seconds, config.countdown_seconds)
        self.idle_dialog: IdleDialog | None = None
        self._thanks_event: Any = None
        self._shown_screen = ""
        self.title = "caredge kiosk"

    # --- plumbing -------------------------------------------------------------------------

    def build(self) -> Widget:
        load_layouts()
        root = Factory.KioskRoot()
        self.idle_dialog = Factory.IdleDialog()
        Window.bind(on_touch_down=self._any_touch, on_key_down=self._any_key)
        Clock.schedule_interval(self._tick, 0.25)
        Clock.schedule_interval(self._reconnect, self.kiosk_config.reconnect_seconds)
        Clock.schedule_once(self._reconnect, 0)
        return root

    def on_stop(self) -> None:
        self.speaker.stop()
        self.controller.wipe()

    def tr(self, key: str, _language: str | None = None, **values: object) -> str:
        """Text in the current language (kv passes app.lang so it redraws on a switch)."""
        return translate(key, self.controller.language, **values)

    def theme_sp(self, name: str) -> float:
        """A text size of the current theme in pixels."""
        return float(sp(getattr(self.theme, name)))

    def translated(self, widget: Widget, key: str) -> None:
        """Keep widget.text in the current language."""
        widget.text = self.tr(key)
        self.bind(lang=lambda *_a: setattr(widget, "text", self.tr(key)))

    def sized(self, widget: Widget, name: str) -> None:
        """Keep widget.height at a theme size (dp)."""

        def apply(*_args: Any) -> None:
            widget.height = dp(getattr(self.theme, name))

        apply()
        self.bind(theme=apply)

    @property
    def screens(self) -> Any:
        """The ScreenManager."""
        return self.root.ids.screens

    def sync(self) -> None:
        """Show the controller's state: language, mode, status line, screen and its content."""
        c = self.controller
        self.online = c.online
        self.lang = c.language
        if self.elder != c.elder:
            self.elder = c.elder
            self.theme = theme_for(c.elder)
            factor = self.kiosk_config.elder_time_factor if c.elder else 1.0
            self.idle.idle = self.kiosk_config.idle_seconds * factor
            self.idle.countdown = self.kiosk_config.countdown_seconds * factor
        if c.identified:
            self.patient_line = self.tr(
                "hello_patient", name=c.patient_name, number=c.patient_number
            )
        else:
            self.patient_line = ""
        if c.message is None:
            self.message_text, self.message_level = "", "info"
        else:
            self.message_text = self.tr(c.message.key, **c.message.values)
            self.message_level = c.message.level
        if self.screens.current != c.screen:
            self.screens.current = c.screen
        self.screens.current_screen.refresh()
        if not c.identified:
            # Hidden screens must not keep the last patient's cards either.
            for screen in self.screens.screens:
                if isinstance(screen, screens.PatientScreen):
                    screen.refresh()
        if c.screen != self._shown_screen:
            self._shown_screen = c.screen
            self._on_new_screen(c.screen)

    def _on_new_screen(self, screen: str) -> None:
        if self.elder:
            self.speaker.say(self.tr(f"prompt_{screen}"), self.controller.language)
        if self._thanks_event is not None:
            self._thanks_event.cancel()
            self._thanks_event = None
        if screen == "thanks":
            self._thanks_event = Clock.schedule_once(lambda _dt: self.cancel(), THANKS_SECONDS)

    def _clear_inputs(self) -> None:
        for name in ("identify", "feedback"):
            self.screens.get_screen(name).clear_inputs()

    # --- idle timeout ----------------------------------------------------------------------

    def touched(self) -> None:
        """The user did something: the idle timer starts over."""
        self.idle.touch(time.monotonic())

    def _any_touch(self, _window: Any, _touch: Any) -> bool:
        if self.idle_dialog is None or self.idle_dialog.parent is None:
            self.touched()
        return False

    def _any_key(self, *_args: Any) -> bool:
        self.touched()
        return False

    def _needs_watch(self) -> bool:
        c = self.controller
        return c.screen != "welcome" or c.identified or bool(c.keypad.number)

    def _tick(self, _dt: float) -> None:
        now = time.monotonic()
        if not self._needs_watch():
            self.idle.touch(now)
            return
        state = self.idle.state(now)
        assert self.idle_dialog is not None
        if state == "active":
            if self.idle_dialog.parent is not None:
                self.idle_dialog.dismiss(animation=False)
        elif state == "countdown":
            self.idle_dialog.seconds = self.idle.seconds_left(now)
            if self.idle_dialog.parent is None:
                self.idle_dialog.open(animation=False)
                if self.elder:
                    self.speaker.say(self.tr("idle_title"), self.controller.language)
        else:
            self.timeout()

    def still_here(self) -> None:
        """The "I'm still here" button: more time."""
        self.touched()
        if self.idle_dialog is not None:
            self.idle_dialog.dismiss(animation=False)

    def timeout(self) -> None:
        """Idle for too long: wipe everything and greet the next person in the defaults."""
        log.info("idle timeout: session wiped")
        if self.idle_dialog is not None:
            self.idle_dialog.dismiss(animation=False)
        self.controller.wipe()
        self.controller.set_language(self.kiosk_config.language)
        self.controller.set_elder(self.kiosk_config.elder)
        self._clear_inputs()
        self.touched()
        self.sync()

    def _reconnect(self, _dt: float) -> None:
        if not self.controller.online:
            self.controller.check_connection()
            self.sync()

    # --- verbs kv calls --------------------------------------------------------------------

    def _do(self, action: Any, *args: Any) -> Any:
        self.touched()
        result = action(*args)
        self.sync()
        return result

    def choose_language(self, language: Language) -> None:
        self._do(self.controller.set_language, language)

    def toggle_elder(self) -> None:
        self._do(self.controller.set_elder, not self.controller.elder)

    def start(self) -> None:
        self._do(self.controller.start)

    def cancel(self) -> None:
        """Back to the welcome screen, forgetting everything."""
        self._clear_inputs()
        self._do(self.controller.wipe)

    def scan(self, field: Any) -> None:
        """The scanner typed a code and Enter."""
        code = field.text
        field.text = ""
        self._do(self.controller.identify_qr, code)

    def select_field(self, name: str) -> None:
        self._do(self.controller.keypad.select, name)

    def press_key(self, key: str) -> None:
        self._do(self.controller.press_key, key)

    def identify_number(self) -> None:
        self._do(self.controller.identify_number)

    def show(self, screen: str) -> None:
        self._do(self.controller.show, screen)

    def check_in(self, appointment_id: int) -> None:
        self._do(self.controller.check_in, appointment_id)

    def toggle_report(self, report_id: int) -> None:
        self._do(self.controller.toggle_report, report_id)

    def print_selected(self) -> None:
        """Say "printing" first (the next frame shows it), then print."""
        self.message_text, self.message_level = self.tr("printing"), "info"
        Clock.schedule_once(lambda _dt: self._do(self.controller.print_selected), 0.05)

    def finish(self) -> None:
        self._clear_inputs()
        self._do(self.controller.finish)

    def rate(self, rating: int) -> None:
        self._do(self.controller.set_rating, rating)

    def send_feedback(self) -> None:
        comment = self.screens.get_screen("feedback").comment()
        if self._do(self.controller.send_feedback, comment):
            self._clear_inputs()

    def skip_feedback(self) -> None:
        self.cancel()

"""Small widgets the kv layouts share: buttons that tests and kv address by ``tag``."""

from __future__ import annotations

from kivy.properties import NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.textinput import TextInput


class KioskButton(Button):
    """A large touch target; ``role`` picks its colours, ``tag`` names it."""

    tag = StringProperty("")
    role = StringProperty("primary")


class KioskLabel(Label):
    """Wrapped text in the theme's colour; ``level`` is body, title, huge or muted."""

    level = StringProperty("body")
    tag = StringProperty("")


class KioskInput(TextInput):
    """A one-line text field with a tag."""

    tag = StringProperty("")


class Card(BoxLayout):
    """A white panel holding one appointment, bill or report."""

    tag = StringProperty("")
    item_id = NumericProperty(0)


class MapCard(BoxLayout):
    """The white panel of the map screen: it fills the page instead of fitting its content."""

    tag = StringProperty("")

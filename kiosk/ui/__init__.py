"""The Kivy side of the kiosk: widgets, screens and the app (kv layouts in ``kiosk/kv``)."""

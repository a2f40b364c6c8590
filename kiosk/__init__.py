"""caredge self-service kiosk (Kivy)."""

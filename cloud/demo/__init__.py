"""The demo: embedded broker, simulated patients and a publisher playing their readings."""

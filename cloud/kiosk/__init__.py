"""Self-service kiosks: device tokens, patient identification and sessions, feedback."""

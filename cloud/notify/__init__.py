"""Notification delivery: the console WebSocket hub, MQTT to nurse devices, signed webhooks."""

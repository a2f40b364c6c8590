"""caredge edge gateway: BLE sessions, GATT parsers, durable outbox, MQTT uplink."""

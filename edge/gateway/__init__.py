"""The home gateway: meter sessions over BLE (coordinator), their pure rules (policy), the
daemon that scans and runs them beside the MQTT uplink, and deliberate pairing."""

"""BLE adapters of the gateway: backend selection for bleak (BlueZ or the bumble backend)."""

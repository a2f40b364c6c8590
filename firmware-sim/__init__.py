"""Emulated BLE meters and beacons (bumble) and scenario files."""

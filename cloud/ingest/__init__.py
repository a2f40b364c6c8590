"""The ingest worker: MQTT readings → validation → dedupe → time-series store + SQL ledger."""

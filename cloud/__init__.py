"""caredge cloud: API, ingest worker, SQL models, time-series adapters."""

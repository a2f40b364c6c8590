"""Time-series store: one interface (``ReadingStore``), two adapters (``sql``, ``influx``)."""

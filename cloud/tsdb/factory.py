"""Build the configured reading store (``CAREDGE_TSDB_URL``: ``sql`` or an http(s) URL)."""

from __future__ import annotations

from sqlalchemy import Engine

from cloud.settings import Settings
from cloud.tsdb.base import ReadingStore


def make_store(settings: Settings, engine: Engine) -> ReadingStore:
    """The SQL store on engine for ``sql``, else the influx store at ``settings.tsdb_url``."""
    # Imported on demand: a SQL-only deployment never loads influxdb-client.
    if settings.tsdb_url == "sql":
        from cloud.tsdb.sql_store import SqlReadingStore

        return SqlReadingStore(engine)
    from cloud.tsdb.influx_store import InfluxReadingStore

    return InfluxReadingStore(
        settings.tsdb_url,
        token=settings.tsdb_token.get_secret_value(),
        org=settings.tsdb_org,
        bucket=settings.tsdb_bucket,
        persist_on_write=settings.tsdb_durable_writes,
    )

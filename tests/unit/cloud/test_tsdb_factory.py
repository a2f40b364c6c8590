"""make_store picks the adapter CAREDGE_TSDB_URL names."""

from __future__ import annotations

from cloud.db import make_engine
from cloud.settings import Settings
from cloud.tsdb.factory import make_store
from cloud.tsdb.influx_store import InfluxReadingStore
from cloud.tsdb.sql_store import SqlReadingStore


def test_sql_url_gives_the_sql_store() -> None:
    engine = make_engine("sqlite:///:memory:")
    assert isinstance(make_store(Settings(tsdb_url="sql"), engine), SqlReadingStore)


def test_http_url_gives_the_influx_store_without_connecting() -> None:
    engine = make_engine("sqlite:///:memory:")
    store = make_store(Settings(tsdb_url="http://127.0.0.1:1", tsdb_token="t"), engine)
    assert isinstance(store, InfluxReadingStore)
    store.close()

"""Readings: the delivery ledger (dedupe) and the history API over the time-series store."""

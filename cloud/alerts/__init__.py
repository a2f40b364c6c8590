"""Clinical alerts: rules, lifecycle, evaluation in the ingest stream and the alert API."""

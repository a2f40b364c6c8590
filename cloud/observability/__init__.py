"""Observability: Prometheus metrics, health probes and structured logs of the cloud processes."""

"""Prometheus metrics behind the Telemetry port."""

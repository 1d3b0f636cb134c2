"""Prometheus exporter for HAProxy's Runtime API (stats socket)."""

__version__ = "0.1.0"

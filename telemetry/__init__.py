"""What the app tells its operators about itself: Prometheus metrics (telemetry.metrics),
served on a port of their own (telemetry.server). A leaf: it imports nothing of ours, and
the adapters record into it."""

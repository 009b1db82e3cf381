"""Sinks of the event stream: history (SQLite), run summaries; later metrics and reports."""

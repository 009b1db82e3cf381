"""Timeouts, backoff, retry budget, hedging and health: the only code that sleeps or re-issues."""

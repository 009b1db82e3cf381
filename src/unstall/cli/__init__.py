"""The Typer CLI: one module per command; the only place that calls asyncio.run."""

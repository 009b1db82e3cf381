"""unstall serve: the proxy engine as a long-running, shared service."""

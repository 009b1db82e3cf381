"""`unstall check`: find (and fix) Go driver calls that have no timeout."""

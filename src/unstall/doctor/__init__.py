"""Environment checks and layered network diagnosis (causes live here already)."""

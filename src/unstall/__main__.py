"""``python -m unstall``."""

from unstall.cli.main import main

main()

"""unstall: make Go dependency installs and Go driver calls stop stalling."""

from __future__ import annotations

# The one place the version lives: pyproject reads it from here, and reading it needs
# no package metadata look-up at start-up.
__version__ = "0.1.0"

__all__ = ["__version__"]

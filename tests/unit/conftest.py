"""Fixtures of the unit tests that read settings."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fake $HOME with no configuration in it."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The working directory of the command, initially without unstall.toml."""
    path = tmp_path / "project"
    path.mkdir()
    return path

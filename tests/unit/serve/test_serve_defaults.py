"""unstall serve's own defaults on top of the shared settings."""

from __future__ import annotations

from pathlib import Path

from unstall.cli.serve_cmd import SERVE_CONCURRENCY, with_serve_defaults
from unstall.config import load_settings


def test_serve_forwards_more_misses_at_once_unless_configured(tmp_path: Path) -> None:
    env = {"UNSTALL_HOME": str(tmp_path / "home")}
    unset = load_settings(env=env, cwd=tmp_path, user_config=tmp_path / "none.toml")
    assert unset.concurrency == 8  # one `unstall go`
    assert with_serve_defaults(unset).concurrency == SERVE_CONCURRENCY
    configured = load_settings(
        env={**env, "UNSTALL_CONCURRENCY": "4"}, cwd=tmp_path, user_config=tmp_path / "none.toml"
    )
    assert with_serve_defaults(configured).concurrency == 4
    (tmp_path / "unstall.toml").write_text("concurrency = 12\n")
    from_file = load_settings(env=env, cwd=tmp_path, user_config=tmp_path / "none.toml")
    assert with_serve_defaults(from_file).concurrency == 12

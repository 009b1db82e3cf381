"""Settings layering, validation and paths, as a user configures unstall."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest

from unstall.config import Settings, load_settings
from unstall.errors import ConfigError


def _user_config(home: Path, text: str) -> Path:
    path = home / ".config" / "unstall" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_and_xdg_fallbacks(home: Path, project: Path) -> None:
    settings = load_settings(env={"HOME": str(home)}, cwd=project)
    assert settings.timeouts.connect == 5.0
    assert settings.retry.attempts == 4
    assert settings.mirrors == ()
    assert settings.home == home / ".local" / "state" / "unstall"
    assert settings.cache_dir == home / ".cache" / "unstall"
    assert settings.history_path == settings.home / "history.sqlite3"


def test_xdg_variables_move_state_cache_and_config(
    tmp_path: Path, home: Path, project: Path
) -> None:
    config_home = tmp_path / "xdg-config"
    (config_home / "unstall").mkdir(parents=True)
    (config_home / "unstall" / "config.toml").write_text("concurrency = 3\n")
    # A config in the HOME fallback location must be ignored once XDG_CONFIG_HOME is set.
    _user_config(home, "concurrency = 99\n")
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(config_home),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    settings = load_settings(env=env, cwd=project)
    assert settings.concurrency == 3
    assert settings.home == tmp_path / "state" / "unstall"
    assert settings.cache_dir == tmp_path / "cache" / "unstall"


def test_unstall_home_holds_state_and_cache(tmp_path: Path, home: Path, project: Path) -> None:
    env = {
        "HOME": str(home),
        "UNSTALL_HOME": str(tmp_path / "uh"),
        "XDG_CACHE_HOME": str(tmp_path / "ignored"),
        "UNSTALL_DEBUG": "1",  # not a setting: must not be rejected as an unknown key
    }
    settings = load_settings(env=env, cwd=project)
    assert settings.home == tmp_path / "uh"
    assert settings.cache_dir == tmp_path / "uh" / "cache"


def test_layers_override_in_order(home: Path, project: Path) -> None:
    user = _user_config(
        home,
        "concurrency = 2\nmirrors = ['http://127.0.0.1:1']\n"
        "[timeouts]\nconnect = 1\nstall = 1\ntotal = 1\ntls = 1\n",
    )
    (project / "unstall.toml").write_text("[timeouts]\nconnect = 2\nstall = 2\ntls = 2\n")
    env = {
        "HOME": str(home),
        "UNSTALL_TIMEOUTS__CONNECT": "3",
        "UNSTALL_TIMEOUTS__TLS": "3",
        "UNSTALL_MIRRORS": "http://127.0.0.2:2,http://127.0.0.3:3",
    }
    settings = load_settings(
        env=env, cwd=project, user_config=user, overrides={"timeouts": {"tls": 4}}
    )
    assert settings.concurrency == 2  # user file only
    assert settings.timeouts.total == 1  # user file only
    assert settings.timeouts.stall == 2  # ./unstall.toml beats the user file
    assert settings.timeouts.connect == 3  # UNSTALL_* beats both files
    assert settings.timeouts.tls == 4  # flags beat everything
    assert settings.timeouts.first_byte == 20.0  # untouched default survives the merge
    assert settings.mirrors == ("http://127.0.0.2:2", "http://127.0.0.3:3")


def test_user_config_found_through_home(home: Path, project: Path) -> None:
    _user_config(home, "[retry]\nattempts = 7\n")
    assert load_settings(env={"HOME": str(home)}, cwd=project).retry.attempts == 7


def test_invalid_toml_names_the_file(home: Path, project: Path) -> None:
    (project / "unstall.toml").write_text("[timeouts\nconnect = 1\n")
    with pytest.raises(ConfigError, match=re.escape("unstall.toml")) as caught:
        load_settings(env={"HOME": str(home)}, cwd=project)
    assert caught.value.exit_code == 2
    assert "unstall.toml" in caught.value.fix


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"UNSTALL_TIMEOUTS__CONNECT": "soon"}, "timeouts.connect"),
        ({"UNSTALL_TIMEOUTS__CONNECT": "-1"}, "timeouts.connect"),
        ({"UNSTALL_CONCURRENCY": "0"}, "concurrency"),
        ({"UNSTALL_RETRY__ATTEMPTS": "100"}, "retry.attempts"),
        ({"UNSTALL_HEDGE__ENABLED": "perhaps"}, "hedge.enabled"),
    ],
)
def test_invalid_values_name_the_key(
    home: Path, project: Path, env: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)) as caught:
        load_settings(env={"HOME": str(home), **env}, cwd=project)
    assert caught.value.cause == "config-invalid"


def test_invalid_value_in_a_file_names_the_key(home: Path, project: Path) -> None:
    (project / "unstall.toml").write_text("[breaker]\nfailures = 0\n")
    with pytest.raises(ConfigError, match=re.escape("breaker.failures")):
        load_settings(env={"HOME": str(home)}, cwd=project)


@pytest.mark.parametrize(
    ("toml", "env", "key"),
    [
        ("[timeouts]\nconect = 1\n", {}, "timeouts.conect"),
        ("colour = 'blue'\n", {}, "colour"),
        ("", {"UNSTALL_TIMEOUT__CONNECT": "1"}, "timeout"),
        ("", {"UNSTALL_NOPE": "1"}, "nope"),
    ],
)
def test_unknown_keys_are_rejected(
    home: Path, project: Path, toml: str, env: dict[str, str], key: str
) -> None:
    (project / "unstall.toml").write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_settings(env={"HOME": str(home), **env}, cwd=project)


def test_cross_field_rule(home: Path, project: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("hedge.floor")):
        load_settings(
            env={"HOME": str(home)},
            cwd=project,
            overrides={"hedge": {"floor": 5, "ceiling": 1}},
        )


def test_settings_are_frozen(home: Path, project: Path) -> None:
    settings = load_settings(env={"HOME": str(home)}, cwd=project)
    assert isinstance(settings, Settings)
    with pytest.raises(pydantic.ValidationError):
        settings.concurrency = 3  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        settings.timeouts.connect = 1  # type: ignore[misc]


@pytest.mark.parametrize("value", [False, "off", "none", "OFF"])
def test_alert_thresholds_can_be_turned_off_from_toml(tmp_path: Path, value: object) -> None:
    rendered = "false" if value is False else f'"{value}"'
    (tmp_path / "unstall.toml").write_text(
        f"[alerts]\nfailure_rate = {rendered}\nfleet_failure_percent = {rendered}\n"
    )
    settings = load_settings(env={"UNSTALL_HOME": str(tmp_path)}, cwd=tmp_path)
    assert settings.alerts.failure_rate is None
    assert settings.alerts.fleet_failure_percent is None


def test_alert_webhook_urls_are_secret_in_settings(tmp_path: Path) -> None:
    (tmp_path / "unstall.toml").write_text(
        '[[alerts.targets]]\nkind = "slack"\nurl = "http://127.0.0.1:9/hook?key=SECRET"\n'
    )
    settings = load_settings(env={"UNSTALL_HOME": str(tmp_path)}, cwd=tmp_path)
    assert "SECRET" not in repr(settings)
    assert settings.alerts.targets[0].url.get_secret_value().endswith("key=SECRET")

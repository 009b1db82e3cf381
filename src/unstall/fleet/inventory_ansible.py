"""Reading Ansible inventories (INI, YAML, directories) through ansible-core's own API.

ansible-core is an optional extra: it is imported only here, only when an Ansible
inventory is read. Its inventory plugins do the parsing (ranges, children, group and host
vars, group_vars/ and host_vars/ directories), so a file means what it means to Ansible.
Ansible reports problems through its Display singleton on stdout/stderr; that output is
captured during the load and only the parse failure, if any, reaches the user, redacted.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from unstall.errors import ConfigError, UsageError
from unstall.fleet.inventory import Host
from unstall.redact import redact

_ADDRESS_VARS: Final = ("ansible_host", "ansible_ssh_host")
_PORT_VARS: Final = ("ansible_port", "ansible_ssh_port")
_USER_VARS: Final = ("ansible_user", "ansible_ssh_user")
_KEY_VARS: Final = ("ansible_ssh_private_key_file", "ansible_private_key_file")
# Variables Ansible adds to every host itself: not the user's, so not passed on.
_MAGIC_VARS: Final = frozenset(
    {"inventory_hostname", "inventory_hostname_short", "group_names", "inventory_file"}
    | {"inventory_dir", "groups", "omit", "playbook_dir"}
)
_CONSUMED: Final = frozenset((*_ADDRESS_VARS, *_PORT_VARS, *_USER_VARS, *_KEY_VARS))
_IMPLICIT_GROUPS: Final = frozenset({"all", "ungrouped"})
_MISSING_MESSAGE: Final = (
    "reading Ansible inventories needs ansible-core: pip install 'unstall[ansible]'"
)


@dataclass(frozen=True, slots=True)
class _AnsibleApi:
    """The few ansible-core objects used here (untyped: ansible-core ships no type hints)."""

    data_loader: Any
    inventory_manager: Any
    get_group_vars: Any
    sort_groups: Any
    vars_from_sources: Any
    combine_vars: Any
    error: type[Exception]


def load_ansible_inventory(path: Path, *, limit: str | None = None) -> list[Host]:
    """The hosts of the Ansible inventory at ``path`` selected by ``limit``, an Ansible pattern."""
    with _quiet() as captured:
        api = _import_ansible()
        try:
            loader = api.data_loader()
            manager = api.inventory_manager(loader, sources=[str(path)])
            if not manager.hosts:
                raise ConfigError(
                    f"inventory {path}: {_failure(captured.getvalue())}",
                    fix="Check the inventory with `ansible-inventory -i INVENTORY --list`.",
                )
            found = manager.get_hosts(limit or "all")
            hosts = [_host(entry, api, loader, str(path)) for entry in found]
        except api.error as exc:
            raise ConfigError(
                f"inventory {path}: {redact(str(exc))}",
                fix="Check the inventory and --limit with `ansible-inventory --list`.",
            ) from exc
        if not found:
            raise UsageError(
                f"--limit {limit!r} matches no host in {path}",
                fix="Check the pattern: group or host names, fnmatch patterns, ~regex, !exclude.",
            )
        return hosts


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Catch what Ansible writes (warnings, deprecations) instead of letting it reach the TTY."""
    captured = io.StringIO()
    with (
        contextlib.redirect_stdout(captured),
        contextlib.redirect_stderr(captured),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield captured


def _import_ansible() -> _AnsibleApi:
    try:
        from ansible.errors import AnsibleError
        from ansible.inventory.helpers import get_group_vars, sort_groups
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.utils.vars import combine_vars
        from ansible.vars.plugins import get_vars_from_inventory_sources
    except ImportError as exc:
        raise ConfigError(
            _MISSING_MESSAGE, cause="tool-missing", fix="pip install 'unstall[ansible]'"
        ) from exc
    return _AnsibleApi(
        data_loader=DataLoader,
        inventory_manager=InventoryManager,
        get_group_vars=get_group_vars,
        sort_groups=sort_groups,
        vars_from_sources=get_vars_from_inventory_sources,
        combine_vars=combine_vars,
        error=AnsibleError,
    )


def _failure(output: str) -> str:
    """Ansible's own reason for not reading the source, from its captured warnings."""
    reasons: list[str] = []
    for line in output.splitlines():
        text = line.removeprefix("[WARNING]:").strip().removeprefix("* ").strip()
        # "Failed to parse SOURCE with 'ini' plugin: REASON" (each plugin that tried).
        if text.startswith("Failed to parse") and "plugin: " in text and text not in reasons:
            reasons.append(text)
    if reasons:
        return "Ansible could not parse it: " + redact("; ".join(reasons[:3]))
    if "Unable to parse" in output:
        return "Ansible could not parse it as an inventory"
    return "no host in it (or Ansible could not parse it)"


def _host(entry: Any, api: _AnsibleApi, loader: Any, source: str) -> Host:
    """One Host from an ansible Host, its variables merged in Ansible's order of precedence.

    Inventory group vars < group_vars/ files < inventory host vars < host_vars/ files. The
    directories are read by Ansible's vars plugins at the "task" stage, where a playbook
    run reads them (the default stage setting skips them while the inventory is parsed).
    """
    name = str(entry.name)
    groups = api.sort_groups(entry.get_groups())
    merged: Mapping[str, Any] = api.get_group_vars(groups)
    for extra in (
        api.vars_from_sources(loader, [source], groups, "task"),
        entry.get_vars(),
        api.vars_from_sources(loader, [source], [entry], "task"),
    ):
        merged = api.combine_vars(merged, extra)
    address = _literal(name, merged, _ADDRESS_VARS) or name
    port_text = _literal(name, merged, _PORT_VARS)
    key_file = _literal(name, merged, _KEY_VARS)
    group_names = tuple(sorted({str(g.name) for g in groups} - _IMPLICIT_GROUPS))
    other = {
        str(key): _text(value)
        for key, value in merged.items()
        if key not in _CONSUMED and key not in _MAGIC_VARS
    }
    return Host(
        name=name,
        address=address,
        port=_port(name, port_text),
        user=_literal(name, merged, _USER_VARS),
        key_file=Path(key_file).expanduser() if key_file else None,
        groups=group_names,
        vars=MappingProxyType(other),
    )


def _literal(host: str, merged: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    """The first of ``names`` set for ``host``; a Jinja template is refused, not evaluated."""
    for name in names:
        value = merged.get(name)
        if value is None or value == "":
            continue
        text = _text(value)
        if "{{" in text or "{%" in text:
            raise ConfigError(
                f"host {host}: {name} is a template, which unstall does not evaluate",
                fix=f"Give {name} a literal value in the inventory.",
            )
        return text
    return None


def _port(host: str, text: str | None) -> int:
    if text is None:
        return 22
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(
            f"host {host}: ansible_port {redact(text)!r} is not a port (1-65535)",
            fix="Set ansible_port to a number between 1 and 65535.",
        )
    return int(text)


def _text(value: Any) -> str:
    """A variable as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        # str() turns Ansible's tagged string subclass into a plain str.
        return str.__str__(value)
    return json.dumps(value, sort_keys=True, default=str)


__all__ = ["load_ansible_inventory"]

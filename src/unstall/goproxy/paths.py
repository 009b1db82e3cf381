"""Module paths, versions and artifact names of the GOPROXY protocol.

Case-escaping follows the module proxy protocol: an upper-case letter is written
as ``!`` plus its lower-case form, so paths survive case-insensitive file systems.
Validation is strict because these strings become file names in the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from unstall.errors import InputError

_SEMVER: Final = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
    r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_FIRST_ELEMENT: Final = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_ELEMENT: Final = re.compile(r"^[A-Za-z0-9._~-]+$")
_QUERY: Final = re.compile(r"^[A-Za-z0-9._~+-]+$")
MAX_PATH_LENGTH: Final = 1024


class Kind(StrEnum):
    """The artifact kinds the protocol serves for one module."""

    LIST = "list"
    INFO = "info"
    MOD = "mod"
    ZIP = "zip"
    LATEST = "latest"


def escape(text: str) -> str:
    """Case-escape a module path or version (``Azure`` -> ``!azure``)."""
    return "".join(f"!{ch.lower()}" if "A" <= ch <= "Z" else ch for ch in text)


def unescape(text: str) -> str:
    """Undo :func:`escape`; raise :class:`InputError` on an invalid escape."""
    out: list[str] = []
    bang = False
    for ch in text:
        if bang:
            if not "a" <= ch <= "z":
                raise InputError(f"invalid escape '!{ch}' in {text!r}")
            out.append(ch.upper())
            bang = False
        elif ch == "!":
            bang = True
        elif "A" <= ch <= "Z":
            raise InputError(f"unescaped upper-case letter in {text!r}")
        else:
            out.append(ch)
    if bang:
        raise InputError(f"dangling '!' in {text!r}")
    return "".join(out)


def check_module_path(path: str) -> str:
    """Validate a module path; return it unchanged or raise :class:`InputError`."""
    if not path or len(path) > MAX_PATH_LENGTH:
        raise InputError(f"module path {path!r} is empty or too long")
    elements = path.split("/")
    first = elements[0]
    if "." not in first or not _FIRST_ELEMENT.match(first) or first.startswith("."):
        raise InputError(
            f"module path {path!r}: first element {first!r} must be a lower-case host name "
            "with a dot"
        )
    for element in elements:
        if not _ELEMENT.match(element) or element.startswith(".") or element.endswith("."):
            raise InputError(f"module path {path!r}: invalid element {element!r}")
    return path


def is_canonical_version(version: str) -> bool:
    """True for a full semantic version such as ``v1.2.3`` or ``v2.0.0+incompatible``."""
    return bool(_SEMVER.match(version))


def check_version(version: str, *, canonical: bool) -> str:
    """Validate a version (``canonical``) or a version query such as a branch name."""
    if canonical:
        if not is_canonical_version(version):
            raise InputError(f"version {version!r} is not a canonical semantic version")
    elif not _QUERY.match(version) or version.startswith(".") or len(version) > 256:
        raise InputError(f"version query {version!r} is not valid")
    return version


@dataclass(frozen=True, slots=True)
class Artifact:
    """One thing a GOPROXY serves: ``module`` + ``kind`` (+ ``version`` for info/mod/zip)."""

    module: str
    kind: Kind
    version: str = ""

    @property
    def escaped_path(self) -> str:
        """The protocol path below the proxy base URL, without a leading slash."""
        base = escape(self.module)
        if self.kind is Kind.LIST:
            return f"{base}/@v/list"
        if self.kind is Kind.LATEST:
            return f"{base}/@latest"
        return f"{base}/@v/{escape(self.version)}.{self.kind.value}"

    @property
    def immutable(self) -> bool:
        """.mod and .zip never change once published; .info for a canonical version neither."""
        if self.kind in (Kind.MOD, Kind.ZIP):
            return True
        return self.kind is Kind.INFO and is_canonical_version(self.version)

    def __str__(self) -> str:
        if self.kind in (Kind.LIST, Kind.LATEST):
            return f"{self.module} {self.kind.value}"
        return f"{self.module}@{self.version} .{self.kind.value}"


def parse_artifact(path: str) -> Artifact:
    """Parse a protocol request path (escaped, without leading slash) into an :class:`Artifact`."""
    if path.endswith("/@latest"):
        return Artifact(check_module_path(unescape(path[: -len("/@latest")])), Kind.LATEST)
    module_part, sep, rest = path.rpartition("/@v/")
    if not sep:
        raise InputError(f"{path!r} is not a module proxy path (no /@v/ or /@latest)")
    module = check_module_path(unescape(module_part))
    if rest == "list":
        return Artifact(module, Kind.LIST)
    stem, dot, ext = rest.rpartition(".")
    if not dot or ext not in ("info", "mod", "zip"):
        raise InputError(f"{path!r}: unknown artifact {rest!r} (want list, .info, .mod or .zip)")
    kind = Kind(ext)
    version = check_version(unescape(stem), canonical=kind is not Kind.INFO)
    return Artifact(module, kind, version)


__all__ = [
    "Artifact",
    "Kind",
    "check_module_path",
    "check_version",
    "escape",
    "is_canonical_version",
    "parse_artifact",
    "unescape",
]

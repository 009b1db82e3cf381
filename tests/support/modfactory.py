"""A factory of real Go modules for tests and benchmarks.

Every :class:`FixtureModule` is what a module proxy serves for one version: a
go.mod, a valid module zip (``path@version/...`` entries, a compilable package at
the module root), an ``.info`` answer and the h1 hashes go records in go.sum.
The hashes come from :mod:`unstall.goproxy.hashes`; ``tests/unit/goproxy/
test_hashes.py`` checks them against the real go, so fixtures and production
code cannot silently agree on a wrong hash.

Versions with a major version of 2 or more need a ``/vN`` suffix on the module
path (``fixture.test/lib/v2`` at ``v2.1.0``), as in go; :func:`make_module`
refuses anything else. Module paths need a dot in their first element: use
``fixture.test/...``, which never resolves.
"""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from unstall.goproxy.hashes import hash_gomod, hash_zip
from unstall.goproxy.paths import check_module_path, escape, is_canonical_version

INFO_TIME: Final = "2024-01-02T03:04:05Z"
FUNC_NAME: Final = "Name"
PAYLOAD_NAME: Final = "payload.bin"
# A fixed timestamp keeps zip bytes (and so h1 hashes) identical run to run.
_ZIP_TIME: Final = (2024, 1, 2, 3, 4, 4)
_GO_KEYWORDS: Final = frozenset(
    {
        "break",
        "case",
        "chan",
        "const",
        "continue",
        "default",
        "defer",
        "else",
        "fallthrough",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "import",
        "interface",
        "map",
        "package",
        "range",
        "return",
        "select",
        "struct",
        "switch",
        "type",
        "var",
    }
)
# Names that would make the package a command or clash with go's own meaning.
_RESERVED_PACKAGES: Final = frozenset({"main", "init", "_"})
_MAJOR_SUFFIX: Final = re.compile(r"^v[0-9]+$")
_SEMVER_PARTS: Final = re.compile(
    r"^v(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def package_name_for(module_path: str) -> str:
    """A valid Go package name for the package at the root of ``module_path``."""
    elements = module_path.split("/")
    last = elements[-1]
    if _MAJOR_SUFFIX.match(last) and len(elements) > 1:
        last = elements[-2]
    name = re.sub(r"[^0-9A-Za-z_]", "_", last).lower()
    if not name or name[0].isdigit():
        name = "p" + name
    if name in _GO_KEYWORDS or name in _RESERVED_PACKAGES:
        name += "_"
    return name


def semver_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
    """Sort key giving semantic-version order (a pre-release sorts before its release)."""
    match = _SEMVER_PARTS.match(version)
    if match is None:
        raise ValueError(f"not a canonical semantic version: {version!r}")
    major, minor, patch, pre = match.groups()
    if pre is None:
        return (int(major), int(minor), int(patch), 1, ())
    # Numeric identifiers sort numerically and before alphanumeric ones (semver 11.4).
    idents = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split(".")
    )
    return (int(major), int(minor), int(patch), 0, idents)


def _check_major(path: str, version: str) -> None:
    major = semver_key(version)[0]
    last = path.rsplit("/", 1)[-1]
    if major >= 2 and last != f"v{major}":
        raise ValueError(f"{path}@{version}: a v{major} version needs the /v{major} path suffix")


@dataclass(frozen=True)
class FixtureModule:
    """One module version with everything a proxy serves for it and its go.sum hashes."""

    path: str
    version: str
    gomod: bytes
    zip_bytes: bytes
    info: bytes
    h1_zip: str
    h1_mod: str
    requires: tuple[tuple[str, str], ...] = field(default=())

    @property
    def package_name(self) -> str:
        """The Go package name of the package at the module root."""
        return package_name_for(self.path)

    @property
    def import_path(self) -> str:
        """The import path of the root package (the module root is a Go package)."""
        return self.path

    @property
    def func_name(self) -> str:
        """The exported function ``func Name() string`` the package defines."""
        return FUNC_NAME

    def gosum_lines(self) -> list[str]:
        """The two go.sum lines of this version: the zip hash and the go.mod hash."""
        return [
            f"{self.path} {self.version} {self.h1_zip}",
            f"{self.path} {self.version}/go.mod {self.h1_mod}",
        ]


def _gomod(path: str, requires: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"module {path}", "", "go 1.21", ""]
    if requires:
        lines.append("require (")
        lines.extend(f"\t{dep} {ver}" for dep, ver in requires)
        lines.extend([")", ""])
    return "\n".join(lines).encode()


def _package_source(path: str, version: str, imports: Sequence[str]) -> bytes:
    name = package_name_for(path)
    lines = [f"// Package {name} is a generated fixture module.", f"package {name}", ""]
    if imports:
        lines.append("import (")
        lines.extend(f'\tm{i} "{imp}"' for i, imp in enumerate(imports))
        lines.extend([")", ""])
    lines.append(f"// {FUNC_NAME} reports which module version was compiled in.")
    lines.append(f"func {FUNC_NAME}() string {{")
    # Calling each import keeps it a real build dependency: go must fetch its zip.
    lines.extend(f"\t_ = m{i}.{FUNC_NAME}()" for i in range(len(imports)))
    lines.extend([f'\treturn "{path}@{version}"', "}", ""])
    return "\n".join(lines).encode()


def _build_zip(prefix: str, files: Sequence[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content, level in files:
            info = zipfile.ZipInfo(f"{prefix}/{name}", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content, compresslevel=level)
    return buffer.getvalue()


def make_module(
    path: str,
    version: str,
    *,
    requires: Sequence[tuple[str, str]] = (),
    payload_size: int = 0,
    extra_files: Mapping[str, bytes] | None = None,
    seed: int = 0,
    import_requires: bool = True,
) -> FixtureModule:
    """Build one module version.

    ``requires`` become go.mod require lines; with ``import_requires`` the package
    also imports each required module's root package (so they must be fixture
    modules too, and the graph must be acyclic). ``payload_size`` adds a
    ``payload.bin`` of incompressible bytes, deterministic from ``seed``, path and
    version. ``extra_files`` are added below the module root (``"sub/x.go"``).
    """
    check_module_path(path)
    if not is_canonical_version(version):
        raise ValueError(f"not a canonical version: {version!r}")
    _check_major(path, version)
    gomod = _gomod(path, requires)
    files: list[tuple[str, bytes, int]] = [
        ("go.mod", gomod, 6),
        (
            f"{package_name_for(path)}.go",
            _package_source(path, version, [dep for dep, _ in requires] if import_requires else []),
            6,
        ),
    ]
    for name, content in sorted((extra_files or {}).items()):
        files.append((name, content, 6))
    if payload_size > 0:
        # Seeding with a string is deterministic across runs (no hash randomisation).
        rng = random.Random(f"{seed}:{path}@{version}")
        files.append((PAYLOAD_NAME, rng.randbytes(payload_size), 1))
    names = [name for name, _, _ in files]
    if len({name.lower() for name in names}) != len(names):
        raise ValueError(f"{path}@{version}: duplicate file names in {names}")
    zip_bytes = _build_zip(f"{path}@{version}", files)
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        h1_zip = hash_zip(archive)
    info = json.dumps({"Version": version, "Time": INFO_TIME}).encode()
    return FixtureModule(
        path=path,
        version=version,
        gomod=gomod,
        zip_bytes=zip_bytes,
        info=info,
        h1_zip=h1_zip,
        h1_mod=hash_gomod(gomod),
        requires=tuple(requires),
    )


class ModuleSet:
    """Fixture modules keyed by (path, version): the content of a fake proxy."""

    def __init__(self, modules: Iterable[FixtureModule] = ()) -> None:
        self._modules: dict[tuple[str, str], FixtureModule] = {}
        for module in modules:
            self.add(module)

    def add(self, module: FixtureModule) -> FixtureModule:
        """Add (or replace) a module version; returns it for chaining."""
        self._modules[(module.path, module.version)] = module
        return module

    def get(self, path: str, version: str) -> FixtureModule | None:
        """The module version, or None when the set does not hold it."""
        return self._modules.get((path, version))

    def modules(self) -> list[FixtureModule]:
        """Every module version, sorted by path then semantic version."""
        return sorted(self._modules.values(), key=lambda m: (m.path, semver_key(m.version)))

    def paths(self) -> list[str]:
        """Every module path, sorted, each once."""
        return sorted({path for path, _ in self._modules})

    def versions(self, path: str) -> list[str]:
        """The versions of ``path`` in semantic-version order (empty if unknown)."""
        return sorted((v for p, v in self._modules if p == path), key=semver_key)

    def latest(self, path: str) -> FixtureModule | None:
        """The highest version of ``path``."""
        versions = self.versions(path)
        return self._modules[(path, versions[-1])] if versions else None

    def closure(self, roots: Iterable[FixtureModule]) -> list[FixtureModule]:
        """``roots`` plus every module version they require, transitively (sorted)."""
        seen: dict[tuple[str, str], FixtureModule] = {}
        stack = list(roots)
        while stack:
            module = stack.pop()
            if (module.path, module.version) in seen:
                continue
            seen[(module.path, module.version)] = module
            for dep in module.requires:
                found = self._modules.get(dep)
                if found is not None:
                    stack.append(found)
        return sorted(seen.values(), key=lambda m: (m.path, semver_key(m.version)))

    def __len__(self) -> int:
        return len(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def write_file_proxy(self, directory: Path) -> Path:
        """Write the cache/download layout below ``directory``; use as ``GOPROXY=file://...``.

        Returns ``directory``; ``directory.as_uri()`` is the GOPROXY value.
        """
        for path in self.paths():
            base = directory / escape(path) / "@v"
            base.mkdir(parents=True, exist_ok=True)
            versions = self.versions(path)
            (base / "list").write_text("".join(f"{v}\n" for v in versions))
            for version in versions:
                module = self._modules[(path, version)]
                stem = escape(version)
                (base / f"{stem}.info").write_bytes(module.info)
                (base / f"{stem}.mod").write_bytes(module.gomod)
                (base / f"{stem}.zip").write_bytes(module.zip_bytes)
        return directory


def write_main_module(
    directory: Path,
    module_path: str,
    deps: Sequence[FixtureModule],
    *,
    all_modules: Sequence[FixtureModule] | None = None,
) -> None:
    """Write a main module (go.mod, main.go, go.sum) that builds with every dep.

    ``deps`` are required directly and imported by main.go. Modules in
    ``all_modules`` that are not direct deps (their transitive requirements) are
    listed as ``// indirect`` requires at their highest version, as go 1.17+
    module graph pruning needs; go.sum holds both lines of every module in
    ``all_modules`` (default: ``deps``). ``ModuleSet.closure(deps)`` gives a
    suitable ``all_modules``.
    """
    everything = list(all_modules) if all_modules is not None else list(deps)
    direct = {m.path for m in deps}
    highest: dict[str, FixtureModule] = {}
    for module in everything:
        if module.path in direct:
            continue
        current = highest.get(module.path)
        if current is None or semver_key(module.version) > semver_key(current.version):
            highest[module.path] = module
    lines = [f"module {module_path}", "", "go 1.21", ""]
    if deps:
        lines.append("require (")
        lines.extend(f"\t{m.path} {m.version}" for m in deps)
        lines.extend([")", ""])
    if highest:
        lines.append("require (")
        lines.extend(f"\t{m.path} {m.version} // indirect" for _, m in sorted(highest.items()))
        lines.extend([")", ""])
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "go.mod").write_text("\n".join(lines))

    source = ["package main", ""]
    if deps:
        source.append("import (")
        source.extend(f'\tm{i} "{m.import_path}"' for i, m in enumerate(deps))
        source.extend([")", ""])
    source.append("func main() {")
    # println is a builtin: no fmt keeps a cold build of the fixture short.
    source.extend(f"\tprintln(m{i}.{m.func_name}())" for i, m in enumerate(deps))
    source.extend(["}", ""])
    (directory / "main.go").write_text("\n".join(source))

    sums = sorted({line for m in [*deps, *everything] for line in m.gosum_lines()})
    (directory / "go.sum").write_text("".join(f"{line}\n" for line in sums))


@dataclass(frozen=True)
class FixtureGraph:
    """A module set and the direct dependencies of a main module built on it."""

    modules: ModuleSet
    direct: list[FixtureModule]

    @property
    def closure(self) -> list[FixtureModule]:
        """The direct deps and everything they require: ``all_modules`` of a main module."""
        return self.modules.closure(self.direct)

    def write_main(self, directory: Path) -> Path:
        """Create ``directory`` with a main module (example.test/main) needing the graph."""
        directory.mkdir()
        write_main_module(directory, "example.test/main", self.direct, all_modules=self.closure)
        return directory


def make_graph(
    count: int,
    *,
    prefix: str = "fixture.test",
    payload_sizes: Sequence[int] | None = None,
    seed: int = 0,
) -> tuple[ModuleSet, list[FixtureModule]]:
    """A DAG of ``count`` modules; returns the set and the direct deps of a main module.

    Module ``i`` is ``<prefix>/depNNN`` (every fourth one spelled ``DepNNN`` so
    case-escaping is exercised) at v1.0.0; the first third are the direct deps,
    every other module is required by an earlier one (so all are needed to
    build), some by two (diamonds). Every fifth module also has an unused older
    v0.9.0, so ``list`` answers hold more than one version. ``payload_sizes``
    is cycled over the modules' v1.0.0 zips.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    rng = random.Random(seed)
    sizes = list(payload_sizes or [0])
    names = [f"{prefix}/{'Dep' if i % 4 == 3 else 'dep'}{i:03d}" for i in range(count)]
    direct_count = max(1, -(-count // 3))
    parents: dict[int, set[int]] = {i: set() for i in range(count)}
    for child in range(direct_count, count):
        parents[child].add((child - direct_count) // 2)
        if rng.random() < 0.3:
            parents[child].add(rng.randrange(child))
    children: dict[int, list[int]] = {i: [] for i in range(count)}
    for child, of in parents.items():
        for parent in of:
            children[parent].append(child)

    modules: dict[int, FixtureModule] = {}
    # Build leaves first: a module's go.mod names the exact versions it requires.
    for i in reversed(range(count)):
        requires = [(names[c], "v1.0.0") for c in sorted(children[i])]
        modules[i] = make_module(
            names[i], "v1.0.0", requires=requires, payload_size=sizes[i % len(sizes)], seed=seed
        )
    mset = ModuleSet(modules[i] for i in range(count))
    for i in range(0, count, 5):
        mset.add(make_module(names[i], "v0.9.0", seed=seed))
    return mset, [modules[i] for i in range(direct_count)]


__all__ = [
    "FUNC_NAME",
    "INFO_TIME",
    "PAYLOAD_NAME",
    "FixtureGraph",
    "FixtureModule",
    "ModuleSet",
    "make_graph",
    "make_module",
    "package_name_for",
    "semver_key",
    "write_main_module",
]

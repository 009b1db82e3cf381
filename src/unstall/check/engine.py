"""The check engine: files in, findings (and fixed files) out.

Per file: read bytes, parse, run the selected rules, drop suppressed findings, and when
fixing apply the fixes and check the fixed text again, so the findings that remain are
exactly those of the text on disk. A fix can uncover another (two fixes competing for one
spot), so fixing repeats until nothing more applies, a few rounds at most. Nothing a file
contains crashes the run: syntax errors, unreadable files and rules that raise become
:class:`FileError` records of that file, and the other files are still checked.
"""

from __future__ import annotations

import dataclasses
import difflib
import multiprocessing
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unstall.check.fix import FixFailed, Formatter, apply_fixes, wanted
from unstall.check.model import Finding
from unstall.check.parse import parse_go, syntax_error
from unstall.check.rules import Rule
from unstall.check.suppress import parse_suppressions, unsuppressed
from unstall.check.walk import go_files
from unstall.config import CheckTimeouts
from unstall.errors import UsageError

_FIX_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What to do besides reporting: ``fix`` writes safe fixes (and unsafe ones with
    ``unsafe_fixes``); ``diff`` computes the same fixes without writing them."""

    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    include_tests: bool = False

    @property
    def fixing(self) -> bool:
        return self.fix or self.diff


@dataclass(frozen=True, slots=True)
class FileError:
    """A file that could not be (fully) checked or fixed. ``kind``: "syntax", "read",
    "internal" (a rule raised), "fix" (a fix would not produce valid Go), "write"."""

    path: Path
    line: int
    column: int
    message: str
    kind: str


@dataclass(slots=True)
class FileResult:
    """One file's findings (fixed ones marked ``applied``) and errors; ``final`` is the
    text the unfixed findings' positions refer to (the fixed text when fixing)."""

    path: Path
    original: bytes
    final: bytes
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.final != self.original

    @property
    def remaining(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.applied]


@dataclass(slots=True)
class CheckRun:
    """Everything one `unstall check` found, file by file."""

    files: list[FileResult]
    rules: tuple[Rule, ...]

    @property
    def findings(self) -> list[Finding]:
        return [finding for result in self.files for finding in result.findings]

    @property
    def remaining(self) -> list[Finding]:
        return [finding for result in self.files for finding in result.remaining]

    @property
    def errors(self) -> list[FileError]:
        return [error for result in self.files for error in result.errors]

    @property
    def fixed(self) -> int:
        return sum(1 for finding in self.findings if finding.applied)

    def fixable(self, *, unsafe: bool) -> int:
        """Remaining findings ``--fix`` (``unsafe=False``) or only ``--unsafe-fixes`` would fix."""
        return sum(
            1
            for f in self.remaining
            if f.fix is not None and f.fix.edits and f.fix.safe is not unsafe
        )


def _ids(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def select_rules(
    rules: Sequence[Rule], select: Iterable[str] = (), ignore: Iterable[str] = ()
) -> tuple[Rule, ...]:
    """The rules ``--select`` picks (all when empty) minus those ``--ignore`` names.

    Each value is an id or a rule name, case-insensitive, or a comma-separated list of
    them. An unknown one is a :class:`UsageError` (a typo must not silently check nothing).
    """
    by_key = {key.lower(): rule for rule in rules for key in (rule.id, rule.name)}

    def resolve(values: Iterable[str], flag: str) -> set[str]:
        ids: set[str] = set()
        for value in _ids(values):
            rule = by_key.get(value.lower())
            if rule is None:
                known = ", ".join(rule.id for rule in rules)
                raise UsageError(
                    f"{flag} {value!r}: no such rule", fix=f"Use rule ids or names ({known})."
                )
            ids.add(rule.id)
        return ids

    selected = resolve(select, "--select") or {rule.id for rule in rules}
    ignored = resolve(ignore, "--ignore")
    return tuple(rule for rule in rules if rule.id in selected - ignored)


def check_source(
    path: Path, source: bytes, rules: Sequence[Rule], timeouts: CheckTimeouts
) -> tuple[list[Finding], list[FileError]]:
    """The unsuppressed findings of ``rules`` in ``source``, in position order, and the
    file's errors. A file that does not parse is reported, not checked: rules would see
    a recovered tree and could propose edits to code that is not there."""
    file = parse_go(path, source)
    error = syntax_error(file.tree)
    if error is not None:
        return [], [FileError(path, error[0], error[1], "syntax error", "syntax")]
    findings: list[Finding] = []
    errors: list[FileError] = []
    for rule in rules:
        try:
            findings.extend(rule.check(file, timeouts))
        except Exception as exc:  # one rule's bug must not stop the others or the run
            message = f"internal error in {rule.id}: {type(exc).__name__}: {exc}"
            errors.append(FileError(path, 1, 1, message, "internal"))
    names = {rule.id: rule.name for rule in rules}
    kept = unsuppressed(findings, parse_suppressions(source), names)
    kept.sort(key=lambda f: (f.line, f.column, f.rule, f.end_line, f.end_column))
    return kept, errors


def _fix_rounds(
    result: FileResult,
    findings: list[Finding],
    rules: Sequence[Rule],
    timeouts: CheckTimeouts,
    options: CheckOptions,
    formatter: Formatter | None,
) -> list[Finding]:
    """Fix until nothing applies; returns the findings of the final text."""
    for _ in range(_FIX_ROUNDS):
        if not any(wanted(f, options.unsafe_fixes) for f in findings):
            break
        try:
            outcome = apply_fixes(
                result.final, findings, unsafe=options.unsafe_fixes, formatter=formatter
            )
        except FixFailed as exc:
            result.errors.append(FileError(result.path, 1, 1, exc.message, "fix"))
            break
        if outcome.source == result.final:
            break
        recheck, errors = check_source(result.path, outcome.source, rules, timeouts)
        if errors:  # the fixed text does not check cleanly: keep what we had
            message = f"a fix was not applied: the fixed text has a {errors[0].message}"
            result.errors.append(FileError(result.path, 1, 1, message, "fix"))
            break
        result.final = outcome.source
        result.findings += [dataclasses.replace(f, applied=True) for f in outcome.applied]
        findings = recheck
    return findings


def check_file(
    path: Path,
    rules: Sequence[Rule],
    timeouts: CheckTimeouts,
    options: CheckOptions = CheckOptions(),
    formatter: Formatter | None = None,
) -> FileResult:
    """Check (and with ``options.fix``, fix and write) one file."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        result = FileResult(path, b"", b"")
        result.errors.append(FileError(path, 1, 1, f"cannot read: {exc.strerror}", "read"))
        return result
    result = FileResult(path, source, source)
    findings, errors = check_source(path, source, rules, timeouts)
    result.errors += errors
    if options.fixing and not errors:
        findings = _fix_rounds(result, findings, rules, timeouts, options, formatter)
    result.findings += findings
    if options.fix and not options.diff and result.changed:
        try:
            write_atomically(path, result.final)
        except OSError as exc:
            result.errors.append(FileError(path, 1, 1, f"cannot write: {exc}", "write"))
    return result


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (a temporary file renamed over it, mode kept), so a
    crash leaves either the old file or the new one, never half of each."""
    mode = path.stat().st_mode & 0o7777
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_paths(
    paths: Sequence[Path],
    rules: Sequence[Rule],
    timeouts: CheckTimeouts,
    options: CheckOptions = CheckOptions(),
    formatter: Formatter | None = None,
) -> CheckRun:
    """Check every Go file under ``paths`` (see :func:`unstall.check.walk.go_files`)."""
    files = go_files(paths, include_tests=options.include_tests)
    workers = min(os.cpu_count() or 1, len(files) // _FILES_PER_WORKER)
    if workers < 2:
        results = [check_file(path, rules, timeouts, options, formatter) for path in files]
        return CheckRun(results, tuple(rules))
    # Parsing and rules are CPU work in one interpreter: a process per core. Forked
    # workers inherit the job (rules, formatter closures) and only receive paths.
    _JOB.append((tuple(rules), timeouts, options, formatter))
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            results = pool.map(_check_in_worker, files, chunksize=8)
    finally:
        _JOB.pop()
    return CheckRun(results, tuple(rules))


# Files below this many per core are checked in-process: forking costs more than it saves.
_FILES_PER_WORKER = 64
_JOB: list[tuple[tuple[Rule, ...], CheckTimeouts, CheckOptions, Formatter | None]] = []


def _check_in_worker(path: Path) -> FileResult:
    rules, timeouts, options, formatter = _JOB[-1]
    return check_file(path, rules, timeouts, options, formatter)


def unified_diff(result: FileResult, display: str) -> str:
    """The change fixing made to one file as a ``patch -p1`` / ``git apply`` diff."""
    if not result.changed:
        return ""
    before = result.original.decode("utf-8", "replace").splitlines(keepends=True)
    after = result.final.decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, f"a/{display}", f"b/{display}")
    # A last line without a newline gets diff's marker, so the patch restores it exactly.
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


__all__ = [
    "CheckOptions",
    "CheckRun",
    "FileError",
    "FileResult",
    "check_file",
    "check_paths",
    "check_source",
    "select_rules",
    "unified_diff",
    "write_atomically",
]

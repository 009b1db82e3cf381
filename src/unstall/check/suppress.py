"""Suppression comments: which findings the code's authors have accepted on purpose.

Two spellings are understood, on the finding's line or on a comment-only line just above:

- golangci-lint's ``//nolint`` (everything), ``//nolint:unstall`` (every unstall rule),
  ``//nolint:UT001`` and lists ``//nolint:gosec,UT001,UT004``, optionally followed by
  ``// explanation``; ``all`` works as in golangci-lint;
- ``//unstall:ignore UT001 reason`` (also ``UT001,UT004``; without ids, every rule).

Ids are case-insensitive and a rule's name (``http-client-no-timeout``) works like its id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from unstall.check.model import Finding

# One directive per comment; the directive must follow "//" directly, like golangci-lint's
# machine-readable form ("// nolint" is prose, not a directive).
_NOLINT = re.compile(rb"//nolint(?::([\w\-,]+))?(?=\s|$|//)")
_IGNORE = re.compile(rb"//unstall:ignore(?:[ \t]+([\w\-,]+))?")
_RULE_ID = re.compile(r"^ut\d{3}$")
_EVERYTHING = frozenset({"*"})


@dataclass(frozen=True, slots=True)
class Suppressions:
    """The suppression directives of one file: 1-based line -> rule ids/names (lowercase),
    ``"*"`` standing for every rule. ``comment_only`` lines hold nothing but the comment;
    only those also cover the line below."""

    by_line: dict[int, frozenset[str]]
    comment_only: frozenset[int]

    def covers(self, line: int, rule_id: str, rule_name: str = "") -> bool:
        """Whether a finding of ``rule_id`` starting on ``line`` is suppressed."""
        wanted = {rule_id.lower(), rule_name.lower()} - {""}
        for candidate in (line, line - 1):
            names = self.by_line.get(candidate)
            if names is None or (candidate != line and candidate not in self.comment_only):
                continue
            if "*" in names or wanted & names:
                return True
        return False


def _nolint_names(listed: bytes | None) -> frozenset[str]:
    if listed is None:
        return _EVERYTHING
    names = {name.strip().lower() for name in listed.decode("ascii", "replace").split(",")}
    if names & {"all", "unstall"}:
        return _EVERYTHING
    return frozenset(names - {""})


def _ignore_names(listed: bytes | None) -> frozenset[str]:
    if listed is None:
        return _EVERYTHING
    names = {name.strip().lower() for name in listed.decode("ascii", "replace").split(",")}
    names -= {""}
    # "//unstall:ignore because ..." has no ids: the first word is the reason.
    if not names or not all(_RULE_ID.match(n) or "-" in n for n in names):
        return _EVERYTHING
    return frozenset(names)


def parse_suppressions(source: bytes) -> Suppressions:
    """Every suppression directive in ``source``."""
    by_line: dict[int, frozenset[str]] = {}
    comment_only: set[int] = set()
    if b"//nolint" not in source and b"//unstall:ignore" not in source:
        return Suppressions({}, frozenset())  # the common case, without splitting lines
    for number, line in enumerate(source.split(b"\n"), start=1):
        names: set[str] = set()
        for match in _NOLINT.finditer(line):
            names |= _nolint_names(match.group(1))
        for match in _IGNORE.finditer(line):
            names |= _ignore_names(match.group(1))
        if names:
            by_line[number] = frozenset(names)
            if line.lstrip().startswith(b"//"):
                comment_only.add(number)
    return Suppressions(by_line, frozenset(comment_only))


def unsuppressed(
    findings: Iterable[Finding], suppressions: Suppressions, names: dict[str, str]
) -> list[Finding]:
    """``findings`` without the suppressed ones (``names``: rule id -> rule name)."""
    return [
        finding
        for finding in findings
        if not suppressions.covers(finding.line, finding.rule, names.get(finding.rule, ""))
    ]


__all__ = ["Suppressions", "parse_suppressions", "unsuppressed"]

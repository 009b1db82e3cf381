"""SARIF 2.1.0 output of `unstall check`, in the shape GitHub code scanning accepts.

Locations are repository-relative URIs against ``%SRCROOT%``; each result carries a
``primaryLocationLineHash`` computed from the rule, the path and the finding's line text
(whitespace-normalised), so an alert follows its code when unrelated lines move.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from unstall import __version__
from unstall.check.engine import CheckRun, FileResult
from unstall.check.model import Finding
from unstall.check.report import display_path
from unstall.check.rules import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
SRCROOT = "%SRCROOT%"


def _rule_json(rule: Rule) -> dict[str, Any]:
    suppress = (
        f"Suppress one finding with `//nolint:{rule.id}` or `//unstall:ignore {rule.id} reason`."
    )
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.description},
        "help": {
            "text": f"{rule.description}\n\n{suppress.replace('`', '')}",
            "markdown": f"**{rule.id} {rule.name}**: {rule.description}\n\n{suppress}",
        },
        "defaultConfiguration": {"level": "warning"},
        "properties": {"tags": ["reliability", "timeout"]},
    }


def line_hash(rule: str, uri: str, line_text: str) -> str:
    """A stable hash of a finding's rule, file and line text (whitespace collapsed)."""
    normalized = " ".join(line_text.split())
    digest = hashlib.sha256(f"{rule}\0{uri}\0{normalized}".encode()).hexdigest()
    return digest[:16]


def _line_text(result: FileResult, line: int) -> str:
    lines = result.final.decode("utf-8", "replace").split("\n")
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _location(uri: str, finding: Finding) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "uriBaseId": SRCROOT},
            "region": {
                "startLine": finding.line,
                "startColumn": finding.column,
                "endLine": finding.end_line,
                "endColumn": finding.end_column,
            },
        }
    }


def sarif_document(run: CheckRun, base: Path) -> dict[str, Any]:
    """The SARIF log of ``run`` (remaining findings; fixed ones are gone from the code).
    ``base`` is the repository root the URIs are relative to."""
    rules = list(run.rules)
    index = {rule.id: position for position, rule in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for result in run.files:
        seen: Counter[str] = Counter()
        for finding in result.remaining:
            uri = display_path(finding.path, base)
            digest = line_hash(finding.rule, uri, _line_text(result, finding.line))
            seen[digest] += 1  # identical lines in one file are told apart by occurrence
            entry: dict[str, Any] = {
                "ruleId": finding.rule,
                "level": "warning",
                "message": {"text": finding.message},
                "locations": [_location(uri, finding)],
                "partialFingerprints": {"primaryLocationLineHash": f"{digest}:{seen[digest]}"},
            }
            if finding.rule in index:
                entry["ruleIndex"] = index[finding.rule]
            results.append(entry)
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{error.message}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": display_path(error.path, base),
                            "uriBaseId": SRCROOT,
                        },
                        "region": {"startLine": error.line, "startColumn": error.column},
                    }
                }
            ],
        }
        for error in run.errors
    ]
    return {
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "unstall",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_rule_json(rule) for rule in rules],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not run.errors,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def render_sarif(run: CheckRun, base: Path) -> str:
    """:func:`sarif_document` as indented JSON text."""
    return json.dumps(sarif_document(run, base), indent=2) + "\n"


__all__ = ["SCHEMA", "SRCROOT", "VERSION", "line_hash", "render_sarif", "sarif_document"]

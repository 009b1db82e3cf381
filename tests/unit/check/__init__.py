"""Unit tests of `unstall check`: the engine with fake rules, and one test module per rule.

:class:`FakeRule` stands in for a real rule in the engine's tests (rules are a Protocol),
so those tests depend on nothing any particular rule does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from unstall.check.model import Finding, Fix
from unstall.check.parse import GoFile
from unstall.config import CheckTimeouts


@dataclass
class FakeRule:
    """Flags every call of the function ``callee``; its fix renames the callee to
    ``replacement`` (and, with ``argument``, passes it: ``wait()`` -> ``wait(time.Second)``),
    importing ``imports``."""

    id: str = "UT900"
    name: str = "fake-slow-call"
    summary: str = "slow() without a deadline"
    description: str = "A fake rule for the engine's tests: slow() may block forever."
    callee: str = "slow"
    replacement: str | None = "fast"
    argument: str = ""
    safe: bool = True
    imports: tuple[str, ...] = ()

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterable[Finding]:
        for call in file.calls():
            function = call.child_by_field_name("function")
            if function is None or file.text(function) != self.callee:
                continue
            fix = None
            if self.replacement is not None:
                edits = [file.replace(function, self.replacement)]
                arguments = call.child_by_field_name("arguments")
                if self.argument and arguments is not None:
                    edits.append(file.replace(arguments, f"({self.argument})"))
                fix = Fix(self.safe, tuple(edits), self.imports, "use the bounded call")
            yield file.finding(self.id, call, f"{self.callee}() may block forever", fix)


@dataclass
class BrokenRule:
    """A rule with a bug: it raises on every file."""

    id: str = "UT901"
    name: str = "broken"
    summary: str = "always raises"
    description: str = "A fake rule whose check raises."

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterable[Finding]:
        raise RuntimeError("boom")


def go_source(body: str, imports: str = "") -> bytes:
    """A Go file of package main with ``imports`` and ``body`` inside func main."""
    return f"package main\n{imports}\nfunc main() {{\n{body}}}\n".encode()


__all__ = ["BrokenRule", "FakeRule", "go_source"]

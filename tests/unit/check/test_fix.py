"""Applying fixes: overlaps, imports, gofmt, and never writing invalid Go."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from unstall.check.fix import FixFailed, add_imports, apply_edits, apply_fixes, gofmt_formatter
from unstall.check.model import Edit, Finding, Fix

PATH = Path("main.go")


def finding(*edits: Edit, safe: bool = True, imports: tuple[str, ...] = ()) -> Finding:
    return Finding("UT900", PATH, 1, 1, 1, 2, "m", Fix(safe, edits, imports))


def at(source: bytes, text: bytes) -> tuple[int, int]:
    start = source.index(text)
    return start, start + len(text)


SOURCE = b'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println(slow(1), slow(2))\n}\n'


def test_edits_apply_from_the_end_so_offsets_hold() -> None:
    first, second = at(SOURCE, b"slow(1)"), SOURCE.rindex(b"slow")
    edited = apply_edits(
        SOURCE, [Edit(first[0], first[0] + 4, "fast"), Edit(second, second + 4, "quick")]
    )
    assert b"fmt.Println(fast(1), quick(2))" in edited


def test_overlapping_fix_is_dropped_and_its_finding_stays_unfixed() -> None:
    start, end = at(SOURCE, b"slow(1)")
    keep = finding(Edit(start, end, "fast(1)"))
    overlapping = finding(Edit(start + 4, end, "(9)"))
    same_point = finding(Edit(start, start, "x"))
    outcome = apply_fixes(SOURCE, [keep, overlapping, same_point])
    assert outcome.applied == (keep,)
    assert b"fmt.Println(fast(1), slow(2))" in outcome.source


def test_unsafe_fixes_only_when_asked() -> None:
    start, end = at(SOURCE, b"slow")
    unsafe = finding(Edit(start, end, "fast"), safe=False)
    assert apply_fixes(SOURCE, [unsafe]).source == SOURCE
    assert b"fast(1)" in apply_fixes(SOURCE, [unsafe], unsafe=True).source


def test_no_fix_returns_the_same_bytes() -> None:
    outcome = apply_fixes(SOURCE, [Finding("UT900", PATH, 1, 1, 1, 2, "no fix")])
    assert outcome.source is SOURCE
    assert outcome.applied == ()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (b"package main\n\nfunc main() {}\n", b'package main\n\nimport "time"\n'),
        (b'package main\n\nimport "fmt"\n', b'import (\n\t"fmt"\n\t"time"\n)'),
        (b'package main\n\nimport f "fmt"\n', b'import (\n\tf "fmt"\n\t"time"\n)'),
        (b'package main\n\nimport (\n\t"fmt"\n)\n', b'import (\n\t"time"\n\t"fmt"\n)'),
    ],
)
def test_missing_import_is_added(source: bytes, expected: bytes) -> None:
    assert expected in add_imports(source, ["time"])


def test_imports_already_present_under_any_name_are_not_added_again() -> None:
    source = b'package main\n\nimport (\n\tstdtime "time"\n\t"context"\n)\n'
    assert add_imports(source, ["time", "context"]) == source


def test_a_blank_import_does_not_count_as_imported() -> None:
    source = b'package main\n\nimport _ "time"\n'
    assert b'\t"time"' in add_imports(source, ["time"])


def test_several_imports_without_any_become_one_block() -> None:
    result = add_imports(b"package main\n", ["time", "context"])
    assert result.startswith(b'package main\n\nimport (\n\t"context"\n\t"time"\n)\n')


def test_a_fix_producing_invalid_go_raises_instead_of_returning_it() -> None:
    start, end = at(SOURCE, b"slow(1)")
    with pytest.raises(FixFailed, match="syntax error"):
        apply_fixes(SOURCE, [finding(Edit(start, end, "slow(1"))])


def test_a_formatter_refusal_raises() -> None:
    def refuse(source: bytes) -> bytes:
        raise FixFailed("gofmt said no")

    start, end = at(SOURCE, b"slow")
    with pytest.raises(FixFailed, match="gofmt said no"):
        apply_fixes(SOURCE, [finding(Edit(start, end, "fast"))], formatter=refuse)


@pytest.mark.skipif(shutil.which("gofmt") is None, reason="gofmt is not installed")
def test_gofmt_formats_the_result_and_a_second_pass_changes_nothing() -> None:
    formatter = gofmt_formatter()
    assert formatter is not None
    start, end = at(SOURCE, b"slow(1)")
    fix = finding(Edit(start, end, "wait(   time.Second )"), imports=("time",))
    fixed = apply_fixes(SOURCE, [fix], formatter=formatter).source
    assert b"fmt.Println(wait(time.Second), slow(2))" in fixed
    assert b'import (\n\t"fmt"\n\t"time"\n)' in fixed
    assert formatter(fixed) == fixed


@pytest.mark.skipif(shutil.which("gofmt") is None, reason="gofmt is not installed")
def test_gofmt_rejects_what_tree_sitter_accepts_and_the_fix_fails() -> None:
    formatter = gofmt_formatter()
    assert formatter is not None
    with pytest.raises(FixFailed, match="gofmt"):
        formatter(b"package main\n\nfunc main() { x := }\n")

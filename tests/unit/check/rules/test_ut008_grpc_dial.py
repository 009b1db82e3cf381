"""UT008 grpc-blocking-dial-no-timeout: blocking dials without a deadline, and their fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.check.rules.helpers import assert_valid_go, fixed_all
from unstall.check.model import Finding, Fix
from unstall.check.parse import parse_go
from unstall.check.rules.ut008_grpc_dial import RULE
from unstall.config import CheckTimeouts

GRPC_IMPORT = '"google.golang.org/grpc"'


def source_of(body: str, imports: str) -> str:
    return f"package main\n\nimport (\n{imports}\n)\n\n{body}"


def run(rule: object, source: str) -> list[Finding]:
    check = getattr(rule, "check")  # noqa: B009 - the Rule protocol's check
    return list(check(parse_go(Path("main.go"), source.encode()), CheckTimeouts()))


def apply_fix(source: str, fix: Fix) -> str:
    """The source with the fix applied as the engine would (minus gofmt); asserts it lists
    only imports the file lacks, and that the result parses and gofmt accepts it."""
    for path in fix.imports:
        assert f'"{path}"' not in source, f"{path} listed although imported"
    text = fixed_all(source, [Finding("UT008", Path("main.go"), 1, 1, 1, 1, "", fix)])
    assert_valid_go(text)
    return text


def check(body: str, imports: str = f'"context"\n{GRPC_IMPORT}') -> list[Finding]:
    return run(RULE, source_of(body, imports))


def test_blocking_dial_is_reported_with_a_suggested_fix() -> None:
    imports = f'"context"\n"time"\n{GRPC_IMPORT}'
    body = (
        "func connect() (*grpc.ClientConn, error) {\n"
        '\treturn grpc.Dial("127.0.0.1:50051", grpc.WithBlock())\n}\n'
    )
    source = source_of(body, imports)
    [finding] = run(RULE, source)
    assert (finding.rule, finding.line, finding.column) == ("UT008", 10, 9)
    assert finding.end_column == 55
    assert finding.message.startswith("grpc.Dial with WithBlock() has no timeout")
    assert finding.fix is not None
    assert finding.fix.safe is False  # suggested: the dial may now fail where it waited
    assert finding.fix.imports == ()
    fixed = apply_fix(source, finding.fix)
    assert (
        "\tdialCtx, cancel := context.WithTimeout(context.Background(), 10 * time.Second)\n"
        "\tdefer cancel()\n"
        '\treturn grpc.DialContext(dialCtx, "127.0.0.1:50051", grpc.WithBlock())\n'
    ) in fixed
    assert run(RULE, fixed) == []  # a second pass finds nothing


def test_fix_adds_missing_imports_and_uses_aliases() -> None:
    imports = f'stdctx "context"\n{GRPC_IMPORT}'
    body = 'func f() {\n\tconn, _ := grpc.Dial("127.0.0.1:1", grpc.WithBlock())\n\t_ = conn\n}\n'
    source = source_of(body, imports)
    [finding] = run(RULE, source)
    assert finding.fix is not None
    assert finding.fix.imports == ("time",)
    fixed = apply_fix(source, finding.fix)
    assert "stdctx.WithTimeout(stdctx.Background(), 10 * time.Second)" in fixed
    assert "context." not in fixed.replace('"context"', "")


def test_fix_imports_context_when_missing_and_respects_configured_timeout() -> None:
    source = source_of(
        'func f() {\n\tgrpc.Dial("127.0.0.1:1", grpc.WithBlock())\n}\n',
        f'clock "time"\n{GRPC_IMPORT}',
    )
    [finding] = run(RULE, source)
    assert finding.fix is not None
    assert finding.fix.imports == ("context",)
    timeouts = CheckTimeouts(grpc_dial="3 * time.Second")
    [custom] = RULE.check(parse_go(Path("main.go"), source.encode()), timeouts)
    assert custom.fix is not None
    fixed = apply_fix(source, custom.fix)
    assert "context.WithTimeout(context.Background(), 3 * clock.Second)" in fixed


@pytest.mark.parametrize("empty", ["context.Background()", "context.TODO()"])
def test_dial_context_with_an_empty_context(empty: str) -> None:
    body = (
        "func f() {\n"
        f'\tconn, err := grpc.DialContext({empty}, "127.0.0.1:1", grpc.WithBlock())\n'
        "\t_, _ = conn, err\n}\n"
    )
    source = source_of(body, f'"context"\n"time"\n{GRPC_IMPORT}')
    [finding] = run(RULE, source)
    assert finding.message.startswith("grpc.DialContext with WithBlock()")
    assert finding.fix is not None
    fixed = apply_fix(source, finding.fix)
    assert f"dialCtx, cancel := context.WithTimeout({empty}, 10 * time.Second)" in fixed
    assert 'grpc.DialContext(dialCtx, "127.0.0.1:1", grpc.WithBlock())' in fixed


def test_context_variable_only_assigned_background_is_followed() -> None:
    body = (
        "func f() {\n\tctx := context.Background()\n"
        '\tgrpc.DialContext(ctx, "127.0.0.1:1", grpc.WithBlock())\n}\n'
    )
    source = source_of(body, f'"context"\n"time"\n{GRPC_IMPORT}')
    [finding] = run(RULE, source)
    assert finding.fix is not None
    fixed = apply_fix(source, finding.fix)
    assert "dialCtx, cancel := context.WithTimeout(ctx, 10 * time.Second)" in fixed


def test_options_spread_from_a_local_slice_are_followed() -> None:
    body = (
        "func f() {\n\tvar opts []grpc.DialOption\n"
        "\topts = append(opts, grpc.WithBlock())\n"
        '\tgrpc.Dial("127.0.0.1:1", opts...)\n}\n'
    )
    [finding] = check(body)
    assert finding.line == 11


def test_return_connection_error_implies_block() -> None:
    [finding] = check('var c, e = grpc.Dial("x", grpc.WithReturnConnectionError())\n')
    assert finding.rule == "UT008"
    assert finding.fix is None  # package level: there is no statement to put a cancel in


def test_fix_names_avoid_names_the_function_uses() -> None:
    body = (
        "func f(dialCtx string, cancel int) {\n"
        '\tgrpc.Dial("127.0.0.1:1", grpc.WithBlock())\n'
        '\tgrpc.Dial("127.0.0.1:2", grpc.WithBlock())\n}\n'
    )
    source = source_of(body, f'"context"\n"time"\n{GRPC_IMPORT}')
    first, second = run(RULE, source)
    assert first.fix is not None
    assert second.fix is not None
    assert "dialCtx2, cancel2 := " in apply_fix(source, first.fix)
    assert "dialCtx3, cancel3 := " in apply_fix(source, second.fix)


@pytest.mark.parametrize(
    "call",
    [
        'grpc.Dial("127.0.0.1:1")',  # non-blocking: returns at once
        'grpc.Dial("127.0.0.1:1", grpc.WithInsecure())',
        'grpc.Dial("127.0.0.1:1", grpc.WithBlock(), grpc.WithTimeout(time.Second))',
        'grpc.DialContext(ctx, "127.0.0.1:1", grpc.WithBlock())',  # may carry a deadline
        'grpc.NewClient("127.0.0.1:1", grpc.WithBlock())',  # NewClient never blocks
        'grpc.Dial("127.0.0.1:1", opts...)',  # a parameter: unreadable
        'other.Dial("127.0.0.1:1", other.WithBlock())',
    ],
)
def test_bounded_or_unknown_dials_are_not_reported(call: str) -> None:
    body = f"func f(ctx context.Context, opts []grpc.DialOption) {{\n\t{call}\n}}\n"
    imports = f'"context"\n"time"\n{GRPC_IMPORT}\nother "example.test/other"'
    assert check(body, imports) == []


def test_aliased_grpc_import_still_matches() -> None:
    [finding] = check(
        'func f() {\n\tg.Dial("127.0.0.1:1", g.WithBlock())\n}\n',
        '"context"\ng "google.golang.org/grpc"',
    )
    assert finding.message.startswith("g.Dial with WithBlock()")


@pytest.mark.parametrize(
    "body",
    [
        "func f() {\n\tgrpc.Dial()\n}\n",
        "func f() {\n\tgrpc.DialContext()\n}\n",
        "func f() {\n\tgrpc.Dial(, grpc.WithBlock(\n}\n",
        'func f() {\n\tgrpc.Dial("x", (grpc.WithBlock)...)\n}\n',
    ],
)
def test_odd_input_does_not_raise(body: str) -> None:
    assert all(f.rule == "UT008" for f in check(body))

"""UT009 grpc-call-no-deadline: generated client calls with an empty context, and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.check.rules.test_ut008_grpc_dial import apply_fix, run, source_of
from unstall.check.model import Finding
from unstall.check.parse import parse_go
from unstall.check.rules.ut009_grpc_call import RULE
from unstall.config import CheckTimeouts

IMPORTS = '"context"\n"time"\npb "example.test/gen/userpb"\n"google.golang.org/grpc"'


def check(body: str, imports: str = IMPORTS) -> list[Finding]:
    return run(RULE, source_of(body, imports))


def test_call_on_a_constructed_client_is_reported_and_fixed() -> None:
    body = (
        "func get(conn *grpc.ClientConn) error {\n"
        "\tclient := pb.NewUserServiceClient(conn)\n"
        '\t_, err := client.GetUser(context.Background(), &pb.GetUserRequest{Id: "1"})\n'
        "\treturn err\n}\n"
    )
    source = source_of(body, IMPORTS)
    [finding] = run(RULE, source)
    assert (finding.rule, finding.line, finding.column) == ("UT009", 12, 12)
    assert finding.message.startswith(
        "client.GetUser is called with context.Background(): a gRPC call has no deadline"
    )
    assert finding.fix is not None
    assert finding.fix.safe is False
    fixed = apply_fix(source, finding.fix)
    assert (
        "\tctx, cancel := context.WithTimeout(context.Background(), 10 * time.Second)\n"
        "\tdefer cancel()\n"
        '\t_, err := client.GetUser(ctx, &pb.GetUserRequest{Id: "1"})\n'
    ) in fixed
    assert run(RULE, fixed) == []


def test_todo_and_typed_parameters_and_fields() -> None:
    body = (
        "type server struct {\n\tusers pb.UserServiceClient\n}\n\n"
        "func (s *server) a() {\n\ts.users.ListUsers(context.TODO(), &pb.ListUsersRequest{})\n}\n\n"
        "func b(c pb.UserServiceClient, req *pb.GetUserRequest) {\n"
        "\tc.GetUser(context.Background(), req)\n}\n"
    )
    findings = check(body)
    assert [(f.line, f.message.split(" is called")[0]) for f in findings] == [
        (15, "s.users.ListUsers"),
        (19, "c.GetUser"),
    ]
    assert "context.TODO()" in findings[0].message


def test_fields_set_from_constructors_and_inline_constructor_calls() -> None:
    body = (
        "type api struct{ users any }\n\n"
        "func f(conn *grpc.ClientConn, s *api) {\n"
        "\ta := &api{users: pb.NewUserServiceClient(conn)}\n"
        "\ts.users = pb.NewUserServiceClient(conn)\n"
        "\t_ = a\n"
        "\tpb.NewUserServiceClient(conn).GetUser(context.Background(), nil)\n"
        "\ts.users.GetUser(context.Background(), nil)\n"
        "\ts.other.GetUser(context.Background(), nil)\n}\n"
    )
    findings = check(body)
    assert [f.line for f in findings] == [16, 17]


def test_fix_adds_imports_and_picks_unused_names() -> None:
    imports = 'pb "example.test/gen/userpb"\nc "context"'
    body = (
        "func f(client pb.UserServiceClient, ctx int) {\n"
        "\tclient.GetUser(c.Background(), nil)\n"
        "\tclient.GetUser(c.Background(), nil)\n}\n"
    )
    source = source_of(body, imports)
    first, second = run(RULE, source)
    assert first.fix is not None
    assert second.fix is not None
    assert first.fix.imports == ("time",)
    fixed = apply_fix(source, first.fix)
    assert "ctx2, cancel := c.WithTimeout(c.Background(), 10 * time.Second)" in fixed
    assert "client.GetUser(ctx2, nil)" in fixed
    assert "ctx3, cancel2 := " in apply_fix(source, second.fix)


def test_configured_timeout_and_closure_scope() -> None:
    body = (
        "func f(conn *grpc.ClientConn) {\n\tclient := pb.NewUserServiceClient(conn)\n"
        "\tgo func() {\n\t\tclient.GetUser(context.Background(), nil)\n\t}()\n}\n"
    )
    source = source_of(body, IMPORTS)
    timeouts = CheckTimeouts(grpc_call="2 * time.Second")
    [finding] = RULE.check(parse_go(Path("main.go"), source.encode()), timeouts)
    assert finding.fix is not None
    fixed = apply_fix(source, finding.fix)
    assert (
        "\t\tctx, cancel := context.WithTimeout(context.Background(), 2 * time.Second)\n"
        "\t\tdefer cancel()\n\t\tclient.GetUser(ctx, nil)\n"
    ) in fixed


@pytest.mark.parametrize(
    ("body", "imports"),
    [
        # The trap: go-redis clients take a context first but are not gRPC stubs.
        (
            "func f(rdb *redis.Client, u redis.UniversalClient) {\n"
            '\trdb.Get(context.Background(), "k")\n'
            '\tu.Get(context.Background(), "k")\n'
            '\tc := redis.NewClusterClient(opts)\n\tc.Get(context.Background(), "k")\n}\n',
            '"context"\n"github.com/redis/go-redis/v9"',
        ),
        # database/sql and other values that are not generated clients
        (
            'func f(db *sql.DB) {\n\tdb.QueryContext(context.Background(), "SELECT 1")\n}\n',
            '"context"\n"database/sql"',
        ),
        # a context that may carry a deadline
        (
            "func f(ctx context.Context, c pb.UserServiceClient) {\n\tc.GetUser(ctx, nil)\n}\n",
            IMPORTS,
        ),
        # a pointer type is a struct, not a generated (interface) client
        (
            "func f(c *pb.AdminClient) {\n\tc.Get(context.Background(), nil)\n}\n",
            IMPORTS,
        ),
        # a constructor taking a context or options is an SDK client, not a gRPC stub
        (
            "func f(ctx context.Context) {\n\tc := pb.NewAdminClient(ctx)\n"
            "\tc.Get(context.Background(), nil)\n"
            "\td := pb.NewAdminClient(&pb.Options{})\n\td.Get(context.Background(), nil)\n}\n",
            IMPORTS,
        ),
        # streaming calls (ctx, opts...) and unexported methods
        (
            "func f(c pb.ChatClient) {\n\tc.Chat(context.Background(), grpc.WaitForReady(true))\n"
            "\tc.Chat(context.Background())\n\tc.get(context.Background(), nil)\n}\n",
            IMPORTS,
        ),
        # a variable of the same name in another function is not the client
        (
            "func a(c pb.ChatClient) {}\n\n"
            "func b(c *other) {\n\tc.Send(context.Background(), nil)\n}\n",
            IMPORTS,
        ),
    ],
)
def test_non_grpc_calls_are_not_reported(body: str, imports: str) -> None:
    assert check(body, imports) == []


def test_package_level_call_has_no_fix() -> None:
    [finding] = check(
        "var client pb.UserServiceClient\nvar _, _ = client.GetUser(context.Background(), nil)\n"
    )
    assert finding.fix is None


@pytest.mark.parametrize(
    "body",
    [
        "func f(c pb.XClient) {\n\tc.Get(context.Background(), \n}\n",
        "func f(c pb.XClient) {\n\tc.(context.Background(), nil)\n}\n",
        "func f() {\n\tpb.NewXClient().Get(context.Background(), nil)\n}\n",
        "var c = pb.NewXClient(conn), 1\n",
        "func f(c pb.XClient) {\n\t(c).Get(context.Background(), nil)\n}\n",
    ],
)
def test_odd_input_does_not_raise(body: str) -> None:
    assert all(f.rule == "UT009" for f in check(body))

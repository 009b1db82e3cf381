"""UT008 grpc-blocking-dial-no-timeout: a blocking ``grpc.Dial`` that can wait forever.

``grpc.Dial`` normally returns at once and connects in the background; ``WithBlock()``
(or ``WithReturnConnectionError()``, which implies it) makes it wait until the
connection is up, and without ``WithTimeout`` or a context deadline "until" may be
never. The suggested fix dials with ``DialContext`` under ``context.WithTimeout``.

Also home of the helpers UT009 shares: recognising ``context.Background()`` and
inserting ``ctx, cancel := context.WithTimeout(...)`` + ``defer cancel()``.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from unstall.check.model import Edit, Finding, Fix
from unstall.check.parse import GoFile
from unstall.config import CheckTimeouts

GRPC = "google.golang.org/grpc"
_FUNCTIONS = ("function_declaration", "method_declaration", "func_literal")


def is_empty_context(file: GoFile, node: Node | None) -> bool:
    """True for ``context.Background()`` / ``context.TODO()`` (under the file's name
    for package context): a context that never has a deadline."""
    if node is None or node.type != "call_expression":
        return False
    return file.package_call(
        node, "context", "Background", "TODO"
    ) is not None and not file.arguments(node)


def _fresh(base: str, taken: set[str]) -> str:
    name, counter = base, 2
    while name in taken:
        name, counter = f"{base}{counter}", counter + 1
    taken.add(name)
    return name


class ContextNames:
    """Picks variable names for inserted contexts that clash with nothing the enclosing
    function mentions (no shadowing, no ``no new variables on left side of :=``) nor
    with names earlier fixes of the same run already chose in that function."""

    def __init__(self, file: GoFile) -> None:
        self._file = file
        self._taken: dict[tuple[int, int], set[str]] = {}

    def pick(self, statement: Node, ctx_base: str) -> tuple[str, str]:
        """(context variable, cancel function) names for a fix before ``statement``."""
        function = statement.parent
        while function is not None and function.type not in _FUNCTIONS:
            function = function.parent
        scope = function or statement
        key = (scope.start_byte, scope.end_byte)
        if key not in self._taken:
            self._taken[key] = self._file.identifier_names(scope) | set(self._file.imports())
        taken = self._taken[key]
        return _fresh(ctx_base, taken), _fresh("cancel", taken)


def with_timeout_edit(
    file: GoFile, statement: Node, parent: str, timeout: str, names: tuple[str, str]
) -> tuple[Edit, tuple[str, ...]]:
    """An edit inserting ``ctx, cancel := context.WithTimeout(parent, timeout)`` and
    ``defer cancel()`` before ``statement``, and the imports that needs."""
    context, context_imports = file.package_name("context")
    timeout, time_imports = file.duration(timeout)
    ctx, cancel = names
    indent = file.indentation(statement)
    text = (
        f"{ctx}, {cancel} := {context}.WithTimeout({parent}, {timeout})\n"
        f"{indent}defer {cancel}()\n{indent}"
    )
    return Edit(statement.start_byte, statement.start_byte, text), context_imports + time_imports


class GrpcBlockingDialRule:
    """Flags ``grpc.Dial``/``DialContext`` with ``WithBlock()`` and no deadline."""

    id = "UT008"
    name = "grpc-blocking-dial-no-timeout"
    summary = "blocking grpc.Dial without a timeout"
    description = (
        "grpc.Dial and grpc.DialContext return immediately unless WithBlock() (or "
        "WithReturnConnectionError()) is passed; then they wait until the connection is "
        "ready. With neither grpc.WithTimeout nor a context that has a deadline, a server "
        "that is down, unreachable or behind a black-holing firewall makes the dial wait "
        "forever, typically hanging a service at start-up. Dial with a context from "
        "context.WithTimeout (and defer its cancel)."
    )

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterator[Finding]:
        """Yield a finding, with a suggested fix when possible, per unbounded blocking dial."""
        if not file.names_for(GRPC):
            return
        names = ContextNames(file)
        for call in file.calls():
            function = file.package_call(call, GRPC, "Dial", "DialContext")
            if function is None:
                continue
            arguments = file.arguments(call)
            if function == "DialContext":
                if not arguments or not self._no_deadline(file, call, arguments[0]):
                    continue
                options = arguments[2:]
            else:
                options = arguments[1:]
            option_calls = self._option_calls(file, call, options)
            if option_calls is None:
                continue
            blocks = any(
                file.package_call(c, GRPC, "WithBlock", "WithReturnConnectionError")
                for c in option_calls
            )
            bounded = any(file.package_call(c, GRPC, "WithTimeout") for c in option_calls)
            if not blocks or bounded:
                continue
            callee = file.text(call.child_by_field_name("function"))
            message = (
                f"{callee} with WithBlock() has no timeout: an unreachable server makes it "
                "wait forever; dial under a context.WithTimeout"
            )
            fix = self._fix(file, call, function, arguments, timeouts, names)
            yield file.finding(self.id, call, message, fix)

    def _no_deadline(self, file: GoFile, call: Node, context: Node) -> bool:
        """Whether the dial's context certainly has no deadline: Background/TODO, or a
        local variable only ever assigned those. Anything else may carry a deadline."""
        if is_empty_context(file, context):
            return True
        if context.type != "identifier":
            return False
        values = _assigned_values(file, call, file.text(context))
        return bool(values) and all(is_empty_context(file, v) for v in values)

    def _option_calls(self, file: GoFile, call: Node, options: list[Node]) -> list[Node] | None:
        """The dial option calls, following ``opts...`` to its assignments in the same
        function; None when the options cannot be read (then nothing is reported)."""
        found: list[Node] = []
        for option in options:
            if option.type == "variadic_argument":
                inner = option.named_children[0] if option.named_children else None
                if inner is None or inner.type != "identifier":
                    return None
                values = _assigned_values(file, call, file.text(inner))
                if not values:
                    return None
                for value in values:
                    found.extend(file.calls(within=value))
            elif option.type == "call_expression":
                found.append(option)
        return found

    def _fix(
        self,
        file: GoFile,
        call: Node,
        function: str,
        arguments: list[Node],
        timeouts: CheckTimeouts,
        names: ContextNames,
    ) -> Fix | None:
        statement = file.enclosing_statement(call)
        callee = call.child_by_field_name("function")
        field = None if callee is None else callee.child_by_field_name("field")
        if statement is None or field is None or not arguments:
            return None
        ctx, cancel = names.pick(statement, "dialCtx")
        if function == "DialContext":
            parent = file.text(arguments[0])
            rewrite = [file.replace(arguments[0], ctx)]
        else:
            context, _ = file.package_name("context")
            parent = f"{context}.Background()"
            first = arguments[0].start_byte
            rewrite = [file.replace(field, "DialContext"), Edit(first, first, f"{ctx}, ")]
        insert, imports = with_timeout_edit(
            file, statement, parent, timeouts.grpc_dial, (ctx, cancel)
        )
        return Fix(
            safe=False,
            edits=(insert, *rewrite),
            imports=imports,
            description=f"grpc.DialContext under context.WithTimeout({timeouts.grpc_dial})",
        )


def _assigned_values(file: GoFile, use: Node, name: str) -> list[Node]:
    """Right-hand sides assigned to variable ``name`` in the function enclosing ``use``
    (``:=``, ``=``, ``var``); empty if it is a parameter or assigned nowhere visible."""
    function = file.enclosing_function(use)
    if function is None:
        return []
    parameters = function.child_by_field_name("parameters")
    if parameters is not None and name in file.identifier_names(parameters):
        return []
    values: list[Node] = []
    for node in file.nodes_of(
        "short_var_declaration", "assignment_statement", "var_spec", within=function
    ):
        if node.type == "var_spec":
            left = list(node.children_by_field_name("name"))
            right_list = node.child_by_field_name("value")
            if right_list is None:
                continue  # var opts []grpc.DialOption: the zero value adds no option
        else:
            left_list = node.child_by_field_name("left")
            left = [] if left_list is None else list(left_list.named_children)
            right_list = node.child_by_field_name("right")
        right = [] if right_list is None else list(right_list.named_children)
        for index, target in enumerate(left):
            if target.type == "identifier" and file.text(target) == name:
                if len(right) != len(left):
                    return []  # v, err := f(): the value is not readable here
                values.append(right[index])
    return values


RULE = GrpcBlockingDialRule()

__all__ = [
    "GRPC",
    "RULE",
    "ContextNames",
    "GrpcBlockingDialRule",
    "is_empty_context",
    "with_timeout_edit",
]

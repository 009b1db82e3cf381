"""UT003 http-serve-no-timeouts: net/http's package-level serve functions.

``http.ListenAndServe``, ``ListenAndServeTLS``, ``Serve`` and ``ServeTLS`` build an
``&http.Server{Addr, Handler}`` with every timeout zero, so nothing bounds how long a
client may take to send its request headers. The fix writes that same server out with
``ReadHeaderTimeout`` set, which changes nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tree_sitter import Node

from unstall.check.model import Finding, Fix
from unstall.check.parse import GoFile
from unstall.check.rules.ut001_http_client import HTTP
from unstall.config import CheckTimeouts


@dataclass(frozen=True, slots=True)
class _Shape:
    """Where a function's arguments go: Addr, Handler and the method's own arguments."""

    arity: int
    addr: int | None
    handler: int
    method_arguments: tuple[int, ...]


_SHAPES = {
    # ListenAndServe(addr, handler)
    "ListenAndServe": _Shape(2, 0, 1, ()),
    # ListenAndServeTLS(addr, certFile, keyFile, handler)
    "ListenAndServeTLS": _Shape(4, 0, 3, (1, 2)),
    # Serve(l, handler)
    "Serve": _Shape(2, None, 1, (0,)),
    # ServeTLS(l, handler, certFile, keyFile)
    "ServeTLS": _Shape(4, None, 1, (0, 2, 3)),
}


class HttpServeNoTimeouts:
    """UT003: http.ListenAndServe and friends, which serve without any timeout."""

    id: str = "UT003"
    name: str = "http-serve-no-timeouts"
    summary: str = "http.ListenAndServe/Serve without timeouts"
    description: str = (
        "http.ListenAndServe, ListenAndServeTLS, Serve and ServeTLS run an http.Server whose "
        "timeouts are all zero: a client that opens a connection and sends its headers slowly "
        "(Slowloris) holds it forever. Build an http.Server with ReadHeaderTimeout and call "
        "its method instead."
    )

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterable[Finding]:
        if not file.names_for(HTTP):
            return
        timeout, imports = file.duration(timeouts.http_server_read_header)
        for call in file.calls():
            function = file.package_call(call, HTTP, *_SHAPES)
            if function is None:
                continue
            edit_text = _rewrite(file, call, function, timeout)
            fix = None
            if edit_text is not None:
                edit = file.replace(call, edit_text)
                fix = Fix(
                    True, (edit,), imports, "serve with an http.Server with ReadHeaderTimeout"
                )
            message = (
                f"http.{function} serves without timeouts; use an http.Server with "
                "ReadHeaderTimeout"
            )
            yield file.finding(self.id, call, message, fix)


def _rewrite(file: GoFile, call: Node, function: str, timeout: str) -> str | None:
    """``(&http.Server{Addr: a, Handler: h, ReadHeaderTimeout: t}).<function>(...)``, or
    None when the arguments are not the plain ones (wrong count, ``args...``)."""
    shape = _SHAPES[function]
    arguments = file.arguments(call)
    if len(arguments) != shape.arity or any(_spread(a) for a in arguments):
        return None
    callee = call.child_by_field_name("function")
    package = file.text(None if callee is None else callee.child_by_field_name("operand"))
    fields = []
    if shape.addr is not None:
        fields.append(f"Addr: {file.text(arguments[shape.addr])}")
    handler = file.text(arguments[shape.handler])
    if handler != "nil":  # a nil Handler is the zero value: DefaultServeMux either way
        fields.append(f"Handler: {handler}")
    fields.append(f"ReadHeaderTimeout: {timeout}")
    method_arguments = ", ".join(file.text(arguments[i]) for i in shape.method_arguments)
    return f"(&{package}.Server{{{', '.join(fields)}}}).{function}({method_arguments})"


def _spread(argument: Node) -> bool:
    return argument.type == "variadic_argument"


RULE = HttpServeNoTimeouts()

__all__ = ["RULE", "HttpServeNoTimeouts"]

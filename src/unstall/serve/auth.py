"""Who may use a served proxy: a shared token, or users from an htpasswd (bcrypt) file.

go sends GOPROXY credentials as HTTP Basic from the URL
(``GOPROXY=https://user:secret@host``) or from ``.netrc``; it cannot send a bearer
token without a GOAUTH helper. So the token is accepted both as ``Bearer TOKEN``
and as the password of Basic with any user name. Health probes stay open so a
load balancer needs no credentials.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
from collections import OrderedDict
from pathlib import Path
from typing import Final

import bcrypt
from starlette.types import ASGIApp, Receive, Scope, Send

from unstall.errors import ConfigError
from unstall.goproxy.app import plain_headers, send_whole

OPEN_PATHS: Final = frozenset({"/healthz", "/readyz"})
# $2y$ (htpasswd), $2a$ and $2b$; a two-digit cost; 22 characters of salt, 31 of hash.
_BCRYPT_HASH: Final = re.compile(r"^\$2[aby]\$[0-3][0-9]\$[./A-Za-z0-9]{53}$")
_VERIFIED_CACHE: Final = 1024


def load_users(path: Path) -> dict[str, bytes]:
    """Read an htpasswd file of bcrypt entries (``htpasswd -B``): ``user:$2y$...``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the users file: {exc}") from exc
    users: dict[str, bytes] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        where = f"{path}:{number}"
        if not sep or not user or not hashed:
            raise ConfigError(
                f"{where}: not a 'user:hash' line",
                fix="Create entries with `htpasswd -B FILE USER` (Debian package apache2-utils).",
            )
        if not _BCRYPT_HASH.match(hashed):
            raise ConfigError(
                f"{where}: user {user!r} has a hash that is not bcrypt",
                fix="Only bcrypt entries are accepted: recreate it with `htpasswd -B FILE USER`.",
            )
        if user in users:
            raise ConfigError(f"{where}: user {user!r} appears twice", fix="Keep one entry.")
        users[user] = hashed.encode()
    if not users:
        raise ConfigError(f"{path}: no users", fix="Add one with `htpasswd -B FILE USER`.")
    return users


class Authenticator:
    """Checks an Authorization header against the token and the users."""

    def __init__(self, *, token: str | None = None, users: dict[str, bytes] | None = None) -> None:
        if not token and not users:
            raise ValueError("an Authenticator needs a token or users")
        self._token = token.encode() if token else None
        self._users = users or {}
        # bcrypt is deliberately slow (tens of ms): remember credentials that passed, by
        # digest, so only a client's first request pays for it.
        self._verified: OrderedDict[bytes, str] = OrderedDict()

    async def user_for(self, header: bytes | None) -> str | None:
        """The authenticated user name, or None when the header does not authenticate."""
        if header is None:
            return None
        scheme, _, value = header.partition(b" ")
        scheme = scheme.lower()
        if scheme == b"bearer":
            token = value.strip()
            if self._token is not None and hmac.compare_digest(token, self._token):
                return "token"
            return None
        if scheme != b"basic":
            return None
        try:
            user_b, sep, password = base64.b64decode(value.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return None
        if not sep:
            return None
        if self._token is not None and hmac.compare_digest(password, self._token):
            return "token"
        user = user_b.decode("utf-8", "replace")
        hashed = self._users.get(user)
        if hashed is None:
            return None
        digest = hashlib.sha256(user_b + b"\0" + password + b"\0" + hashed).digest()
        if digest in self._verified:
            self._verified.move_to_end(digest)
            return user
        try:
            matches = await asyncio.to_thread(bcrypt.checkpw, password, hashed)
        except ValueError:  # e.g. a password over bcrypt's 72-byte limit
            return None
        if not matches:
            return None
        self._verified[digest] = user
        while len(self._verified) > _VERIFIED_CACHE:
            self._verified.popitem(last=False)
        return user


class AuthMiddleware:
    """Answers 401 to requests without valid credentials; records the user in the scope."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self._app = app
        self._auth = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        user = await self._auth.user_for(header)
        if user is None:
            await _unauthorized(scope, send, missing=header is None)
            return
        scope.setdefault("state", {})["user"] = user
        await self._app(scope, receive, send)


async def _unauthorized(scope: Scope, send: Send, *, missing: bool) -> None:
    reason = "credentials required" if missing else "credentials rejected"
    body = (
        f"{reason}\nunstall: this proxy needs a token or a user: "
        "set GOPROXY=https://USER:SECRET@HOST:PORT (or a .netrc entry for the host)\n"
    ).encode()
    headers = [
        *plain_headers(len(body)),
        (b"www-authenticate", b'Basic realm="unstall", charset="UTF-8"'),
    ]
    await send_whole(scope, send, 401, headers, body)


__all__ = ["OPEN_PATHS", "AuthMiddleware", "Authenticator", "load_users"]

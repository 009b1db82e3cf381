"""Serve authentication: the htpasswd users file, the Authenticator and the ASGI middleware."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import bcrypt
import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from unstall.errors import ConfigError
from unstall.serve.auth import Authenticator, AuthMiddleware, load_users

TOKEN = "s3cret-token"


def _bcrypt(password: str) -> bytes:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))


def _basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def _user_for(auth: Authenticator, header: bytes | None) -> str | None:
    return asyncio.run(auth.user_for(header))


@pytest.fixture(scope="module")
def users() -> dict[str, bytes]:
    """alice with a $2b$ hash, bob with the same kind of hash spelled $2y$ (htpasswd -B)."""
    bob = _bcrypt("bob-pw")
    return {"alice": _bcrypt("alice-pw"), "bob": b"$2y$" + bob[4:]}


# load_users


def test_load_users_reads_bcrypt_entries(tmp_path: Path) -> None:
    alice = _bcrypt("alice-pw")
    bob = b"$2y$" + _bcrypt("bob-pw")[4:]
    path = tmp_path / "users"
    path.write_text(
        "# users of the proxy\n"
        "\n"
        f"alice:{alice.decode()}\n"
        "   \n"
        f"  bob:{bob.decode()}  \n"
        "   # indented comment\n"
    )
    assert load_users(path) == {"alice": alice, "bob": bob}


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", ["not bcrypt", "carol"]),
        ("carol:$apr1$abc$defghijklmnopqrstuvwx.", ["not bcrypt"]),
        ("carol:plain-text-password", ["not bcrypt"]),
        ("carol:$2y$garbage", ["not bcrypt"]),
        ("carol:$2y$10$tooshort", ["not bcrypt"]),
        ("carol-without-a-hash", ["not a 'user:hash' line"]),
        ("carol:", ["not a 'user:hash' line"]),
        (":$2y$04$abcdefghijklmnopqrstuu", ["not a 'user:hash' line"]),
    ],
)
def test_load_users_rejects_bad_lines_naming_file_and_line(
    tmp_path: Path, line: str, words: list[str]
) -> None:
    path = tmp_path / "users"
    path.write_text(f"# header\nalice:{_bcrypt('a').decode()}\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_users(path)
    assert f"{path}:3:" in caught.value.message
    for word in words:
        assert word in caught.value.message
    assert "htpasswd -B" in caught.value.fix


def test_load_users_rejects_a_duplicate_user(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text(f"alice:{_bcrypt('a').decode()}\nalice:{_bcrypt('b').decode()}\n")
    with pytest.raises(ConfigError, match=r"users:2: user 'alice' appears twice"):
        load_users(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_load_users_rejects_a_file_without_users(tmp_path: Path, text: str) -> None:
    path = tmp_path / "users"
    path.write_text(text)
    with pytest.raises(ConfigError, match="no users") as caught:
        load_users(path)
    assert str(path) in caught.value.message


def test_load_users_rejects_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent"
    with pytest.raises(ConfigError, match="cannot read the users file") as caught:
        load_users(path)
    assert caught.value.message.startswith(f"{path}:")
    assert caught.value.exit_code == 2


def test_load_users_rejects_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="cannot read the users file"):
        load_users(path)


def test_load_users_rejects_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the users file"):
        load_users(tmp_path)


# Authenticator


def test_authenticator_needs_a_token_or_users() -> None:
    with pytest.raises(ValueError, match="token or users"):
        Authenticator()
    with pytest.raises(ValueError, match="token or users"):
        Authenticator(token="", users={})


def test_bearer_token() -> None:
    auth = Authenticator(token=TOKEN)
    assert _user_for(auth, f"Bearer {TOKEN}".encode()) == "token"
    assert _user_for(auth, f"bearer   {TOKEN} ".encode()) == "token"
    assert _user_for(auth, b"Bearer wrong") is None
    assert _user_for(auth, b"Bearer ") is None
    assert _user_for(auth, f"Bearer {TOKEN}x".encode()) is None


def test_bearer_is_refused_without_a_token(users: dict[str, bytes]) -> None:
    auth = Authenticator(users=users)
    assert _user_for(auth, b"Bearer anything") is None


def test_basic_with_any_user_and_the_token_as_password() -> None:
    auth = Authenticator(token=TOKEN)
    assert _user_for(auth, _basic("go", TOKEN)) == "token"
    assert _user_for(auth, _basic("", TOKEN)) == "token"
    assert _user_for(auth, _basic("go", "not-the-token")) is None


def test_basic_users_from_the_file(users: dict[str, bytes]) -> None:
    auth = Authenticator(token=TOKEN, users=users)
    assert _user_for(auth, _basic("alice", "alice-pw")) == "alice"
    assert _user_for(auth, _basic("bob", "bob-pw")) == "bob"  # a $2y$ hash
    assert _user_for(auth, _basic("alice", "bob-pw")) is None
    assert _user_for(auth, _basic("alice", "")) is None
    assert _user_for(auth, _basic("mallory", "alice-pw")) is None
    # The token still works next to the users.
    assert _user_for(auth, _basic("alice", TOKEN)) == "token"


def test_a_password_longer_than_bcrypt_allows_is_refused_not_an_error(
    users: dict[str, bytes],
) -> None:
    auth = Authenticator(users=users)
    assert _user_for(auth, _basic("alice", "x" * 73)) is None


def test_a_password_with_a_colon(tmp_path: Path) -> None:
    auth = Authenticator(users={"carol": _bcrypt("a:b:c")})
    assert _user_for(auth, _basic("carol", "a:b:c")) == "carol"
    assert _user_for(auth, _basic("carol", "a")) is None


def test_repeated_good_credentials_are_accepted_from_the_cache(
    users: dict[str, bytes],
) -> None:
    auth = Authenticator(users=users)

    async def twice() -> list[str | None]:
        return [
            await auth.user_for(_basic("alice", "alice-pw")),
            await auth.user_for(_basic("alice", "alice-pw")),
            await auth.user_for(_basic("alice", "wrong")),
            await auth.user_for(_basic("alice", "alice-pw")),
        ]

    assert asyncio.run(twice()) == ["alice", "alice", None, "alice"]


def test_only_the_first_good_check_pays_for_bcrypt(
    users: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed_password: bytes) -> bool:
        calls.append(password)
        return real_checkpw(password, hashed_password)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    auth = Authenticator(users=users)
    for _ in range(3):
        assert _user_for(auth, _basic("alice", "alice-pw")) == "alice"
    assert calls == [b"alice-pw"]
    # Failures are not remembered: each one is checked again.
    for _ in range(2):
        assert _user_for(auth, _basic("alice", "guess")) is None
    assert calls == [b"alice-pw", b"guess", b"guess"]


def test_a_changed_hash_is_not_served_from_the_cache() -> None:
    users = {"alice": _bcrypt("old-pw")}
    auth = Authenticator(users=users)
    assert _user_for(auth, _basic("alice", "old-pw")) == "alice"
    users["alice"] = _bcrypt("new-pw")
    assert _user_for(auth, _basic("alice", "old-pw")) is None
    assert _user_for(auth, _basic("alice", "new-pw")) == "alice"


@pytest.mark.parametrize(
    "header",
    [
        b"Basic !!!not-base64!!!",
        b"Basic YWxpY2U",  # base64 without padding
        b"Basic " + base64.b64encode(b"alice-without-colon"),
        b"Basic ",
        b"Basic",
        b"Digest username=alice",
        b"Token " + TOKEN.encode(),
        TOKEN.encode(),
        b"",
    ],
)
def test_malformed_or_unknown_headers_do_not_authenticate(
    users: dict[str, bytes], header: bytes
) -> None:
    auth = Authenticator(token=TOKEN, users=users)
    assert _user_for(auth, header) is None


def test_no_header_does_not_authenticate() -> None:
    assert _user_for(Authenticator(token=TOKEN), None) is None


# AuthMiddleware


async def _echo_user(scope: Scope, receive: Receive, send: Send) -> None:
    """A tiny app answering 200 with the user the middleware recorded (or "-")."""
    user = scope.get("state", {}).get("user") or "-"
    body = f"hello {user} at {scope['path']}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _get(app: ASGIApp, path: str, authorization: str | bytes | None = None) -> httpx.Response:
    if isinstance(authorization, bytes):
        authorization = authorization.decode("ascii")
    headers = {} if authorization is None else {"Authorization": authorization}

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(get())


@pytest.fixture
def app(users: dict[str, bytes]) -> ASGIApp:
    return AuthMiddleware(_echo_user, Authenticator(token=TOKEN, users=users))


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_probes_need_no_credentials(app: ASGIApp, path: str) -> None:
    response = _get(app, path)
    assert response.status_code == 200
    assert response.text == f"hello - at {path}"


@pytest.mark.parametrize(
    "path", ["/", "/metrics", "/example.test/m/@v/list", "/healthz/", "/sumdb/x/supported"]
)
def test_other_paths_need_credentials(app: ASGIApp, path: str) -> None:
    response = _get(app, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert 'realm="unstall"' in response.headers["www-authenticate"]
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("credentials required\n")
    assert "GOPROXY=https://USER:SECRET@" in response.text
    assert "hello" not in response.text


@pytest.mark.parametrize(
    "authorization", ["Bearer nope", _basic("alice", "bad"), _basic("eve", TOKEN + "x"), "Basic %"]
)
def test_wrong_credentials_are_rejected(app: ASGIApp, authorization: str | bytes) -> None:
    response = _get(app, "/example.test/m/@v/list", authorization)
    assert response.status_code == 401
    assert response.text.startswith("credentials rejected\n")
    assert response.headers["www-authenticate"].startswith("Basic ")


def test_authorised_requests_reach_the_app_with_the_user(app: ASGIApp) -> None:
    response = _get(app, "/m/@v/list", _basic("alice", "alice-pw"))
    assert response.status_code == 200
    assert response.text == "hello alice at /m/@v/list"
    response = _get(app, "/m/@latest", f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response.text == "hello token at /m/@latest"
    response = _get(app, "/m/@v/v1.0.0.zip", _basic("go", TOKEN))
    assert response.status_code == 200
    assert response.text == "hello token at /m/@v/v1.0.0.zip"


def test_the_user_is_put_in_the_scope_state(users: dict[str, bytes]) -> None:
    seen: list[Scope] = []

    async def record(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await _echo_user(scope, receive, send)

    response = _get(
        AuthMiddleware(record, Authenticator(users=users)), "/x", _basic("bob", "bob-pw")
    )
    assert response.status_code == 200
    assert len(seen) == 1
    assert seen[0]["state"]["user"] == "bob"


def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    middleware = AuthMiddleware(inner, Authenticator(token=TOKEN))

    async def receive() -> dict[str, str]:
        return {"type": "lifespan.startup"}

    async def send(message: object) -> None:
        raise AssertionError("nothing should be sent")

    asyncio.run(middleware({"type": "lifespan"}, receive, send))
    assert seen == ["lifespan"]

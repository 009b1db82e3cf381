"""redact: credentials never reach the terminal, JSON, logs or history."""

from __future__ import annotations

import pytest

from unstall.redact import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "https://alice:s3cret@proxy.example:8080/path",
            "https://***@proxy.example:8080/path",
        ),
        ("http://tok3n@proxy.example/", "http://***@proxy.example/"),
        ("postgres://app:pw@db.internal:5432/orders", "postgres://***@db.internal:5432/orders"),
        (
            "GOPROXY=https://u:p@a.example,https://b.example,direct",
            "GOPROXY=https://***@a.example,https://b.example,direct",
        ),
        (
            "proxy http://u:p1@one.example failed, then http://v:p2@two.example too",
            "proxy http://***@one.example failed, then http://***@two.example too",
        ),
    ],
)
def test_url_credentials_are_removed(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HTTPS_PROXY=alice:s3cret@proxy.example:3128", "HTTPS_PROXY=***@proxy.example:3128"),
        ("proxy user:pw@10.0.0.1:8080 refused", "proxy ***@10.0.0.1:8080 refused"),
        ("git@git.example:org/repo.git", "git@git.example:org/repo.git"),
        ("mail alice@example.test", "mail alice@example.test"),
        ("time 12:30 @ noon", "time 12:30 @ noon"),
    ],
)
def test_credentials_without_a_scheme_are_removed(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2", "password=***"),
        ("https://x.example/?token=abc123&page=2", "https://x.example/?token=***&page=2"),
        (
            "host=db user=app PASSWORD=hunter2 sslmode=off",
            "host=db user=app PASSWORD=*** sslmode=off",
        ),
        ("pwd=a;passwd=b;secret=c", "pwd=***;passwd=***;secret=***"),
        ("api_key=k1 apikey=k2 api-key=k3", "api_key=*** apikey=*** api-key=***"),
    ],
)
def test_secret_key_value_pairs_are_removed(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "Authorization: Bearer ***"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("proxy-authorization: basic dXNlcjpwYXNz=", "proxy-authorization: basic ***"),
    ],
)
def test_authorization_headers_are_removed(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "https://mirror.example.test/github.com/foo/bar/@v/v1.2.3.zip",
        "http://127.0.0.1:8080/fixture.test/a/@v/list",
        "go get example.com/mod@v1.2.3",
        "mail alice@example.com about it",
        "connect timeout after 5s at https://mirror.example.test,direct",
        "the tokens were counted",
    ],
)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_redacting_twice_changes_nothing_more() -> None:
    once = redact("https://a:b@h.example/?password=x Authorization: Bearer t")

    assert redact(once) == once
    assert "b@" not in once
    assert "=x" not in once


def test_secret_keys_with_a_prefix_are_redacted() -> None:
    text = "DB_PASSWORD=hunter2 https://gitlab.example/api?private_token=glpat-abc&access_token=t0k"
    redacted = redact(text)
    for secret in ("hunter2", "glpat-abc", "t0k"):
        assert secret not in redacted


def test_raw_at_sign_in_a_password_does_not_leak_part_of_it() -> None:
    assert redact("https://user:p@ss@host/x") == "https://***@host/x"


def test_basic_as_an_ordinary_word_is_left_alone() -> None:
    text = "x509: Basic Constraints of CA cert not satisfied"
    assert redact(text) == text
    assert redact("Proxy-Authorization: Basic dXNlcjpwdw==") == "Proxy-Authorization: Basic ***"

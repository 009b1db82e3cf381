"""Exporting a command's metrics: the atomic textfile and a push to a loopback Pushgateway."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from unstall.errors import MetricsExportError
from unstall.events import HedgeStarted
from unstall.observe.metrics import Metrics
from unstall.observe.metrics_export import (
    _proxies,
    push,
    read_textfile_sample,
    write_textfile,
)

UP = "https://mirror.example.test"
LAST_SUCCESS = "unstall_run_last_success_timestamp_seconds"


@dataclass
class Seen:
    """One request the loopback server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Gateway:
    """A loopback HTTP server standing in for a Pushgateway (or an HTTP proxy)."""

    url: str
    requests: list[Seen] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append(Seen(self.command, self.path, headers, body))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_POST = do_DELETE = _record

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _metrics() -> Metrics:
    metrics = Metrics()
    metrics(HedgeStarted("example.test/m/@v/v1.0.0.zip", UP, after=1.0, reason="slow"))
    metrics.observe_run("go", 0, 2.5, ended_at=1_700_000_000.0)
    return metrics


def test_the_textfile_replaces_the_old_one_at_once_never_in_place(tmp_path: Path) -> None:
    path = tmp_path / "unstall.prom"
    path.write_text("# the previous run's metrics\nold_metric 1\n")
    before = path.stat().st_ino
    with path.open("rb") as reader:  # a collector in the middle of reading the old file
        write_textfile(_metrics(), path)
        # Truncating and rewriting in place would show this reader the new bytes (or
        # none); a rename leaves the old file whole for whoever still has it open.
        assert reader.read() == b"# the previous run's metrics\nold_metric 1\n"
    assert path.stat().st_ino != before
    text = path.read_text()
    assert 'unstall_upstream_hedges_total{reason="slow",upstream="' + UP + '"} 1.0' in text
    assert 'unstall_run_exit_code{command="go"} 0.0' in text
    assert os.listdir(tmp_path) == ["unstall.prom"]  # no temporary file left behind


def test_the_textfile_labels_every_series_with_what_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "go.prom"
    write_textfile(_metrics(), path, labels={"command": "go"})
    samples = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert samples
    assert all('command="go"' in line for line in samples), samples
    assert f'unstall_upstream_hedges_total{{command="go",reason="slow",upstream="{UP}"}}' in (
        path.read_text()
    )
    # serve's store size is not a command's to report: it would claim an empty cache
    assert "unstall_cache_zip_bytes" not in path.read_text()


def test_a_missing_textfile_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "textfile" / "collector" / "doctor.prom"
    write_textfile(_metrics(), path)
    assert "unstall_run_duration_seconds" in path.read_text()


def test_an_unwritable_textfile_path_is_an_error_naming_it_and_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where a directory should be")
    path = blocker / "unstall.prom"
    with pytest.raises(MetricsExportError) as caught:
        write_textfile(_metrics(), path)
    assert str(path) in caught.value.message
    assert "--metrics-textfile" in caught.value.fix
    assert caught.value.exit_code != 0


def test_a_sample_of_an_earlier_textfile_can_be_read_back(tmp_path: Path) -> None:
    path = tmp_path / "go.prom"
    write_textfile(_metrics(), path, labels={"command": "go"})
    assert read_textfile_sample(path, LAST_SUCCESS, {"command": "go"}) == 1_700_000_000.0
    assert read_textfile_sample(path, LAST_SUCCESS, {"command": "doctor"}) is None
    assert read_textfile_sample(tmp_path / "none.prom", LAST_SUCCESS, {"command": "go"}) is None
    garbage = tmp_path / "garbage.prom"
    garbage.write_bytes(b"\xff\xfe not { metrics")
    assert read_textfile_sample(garbage, LAST_SUCCESS, {"command": "go"}) is None


def test_push_replaces_the_commands_group_on_the_gateway(gateway: Gateway) -> None:
    push(_metrics(), gateway.url, grouping={"command": "go"}, environ={})
    (seen,) = gateway.requests
    assert seen.method == "PUT"  # the group is replaced: no series of an older run lingers
    assert seen.path == "/metrics/job/unstall/command/go"
    body = seen.body.decode()
    assert f'unstall_upstream_hedges_total{{reason="slow",upstream="{UP}"}} 1.0' in body
    assert 'unstall_run_duration_seconds{command="go"} 2.5' in body
    assert "authorization" not in seen.headers


def test_push_sends_url_credentials_as_basic_auth(gateway: Gateway) -> None:
    url = gateway.url.replace("http://", "http://ops:s%40cret@")
    push(_metrics(), url + "/", grouping={"command": "doctor"}, environ={})
    (seen,) = gateway.requests
    assert seen.path == "/metrics/job/unstall/command/doctor"
    assert seen.headers["authorization"] == "Basic b3BzOnNAY3JldA=="  # ops:s@cret


def test_a_gateway_error_names_the_status_and_never_the_password(gateway: Gateway) -> None:
    gateway.status = 400
    url = gateway.url.replace("http://", "http://ops:hunter2@")
    with pytest.raises(MetricsExportError) as caught:
        push(_metrics(), url, grouping={"command": "go"}, environ={})
    assert "400" in caught.value.message
    assert "hunter2" not in caught.value.message
    assert "127.0.0.1" in caught.value.message


def test_an_unreachable_gateway_is_an_error_without_the_password() -> None:
    url = f"http://ops:hunter2@127.0.0.1:{_closed_port()}"
    with pytest.raises(MetricsExportError) as caught:
        push(_metrics(), url, grouping={"command": "go"}, timeout=5, environ={})
    assert "cannot reach the Pushgateway" in caught.value.message
    assert "hunter2" not in caught.value.message
    assert "hunter2" not in caught.value.fix


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(MetricsExportError) as caught:
        push(_metrics(), "ftp://ops:hunter2@gateway.example.test/", environ={})
    assert "hunter2" not in caught.value.message


def test_a_loopback_gateway_is_reached_directly_despite_a_proxy(gateway: Gateway) -> None:
    dead_proxy = f"http://127.0.0.1:{_closed_port()}"
    push(_metrics(), gateway.url, grouping={"command": "go"}, environ={"HTTP_PROXY": dead_proxy})
    assert [seen.path for seen in gateway.requests] == ["/metrics/job/unstall/command/go"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"http_proxy": "http://proxy.example.test:3128"}, {"http": "proxy.example.test:3128"}),
        ({"HTTPS_PROXY": "http://proxy.example.test:3128"}, {"https": "proxy.example.test:3128"}),
        ({"http_proxy": "http://proxy.example.test:3128", "NO_PROXY": "example.test"}, {}),
        ({"http_proxy": "http://proxy.example.test:3128", "no_proxy": ".example.test:9091"}, {}),
        ({"http_proxy": "http://proxy.example.test:3128", "no_proxy": "*"}, {}),
        (
            {"http_proxy": "http://proxy.example.test:3128", "no_proxy": "other.example.test"},
            {"http": "proxy.example.test:3128"},
        ),
    ],
)
def test_a_remote_gateway_uses_the_proxy_the_environment_names(
    environ: dict[str, str], expected: dict[str, str]
) -> None:
    # Checked without sending: a push to a remote name would need a DNS lookup.
    found = _proxies("pushgateway.example.test", environ)
    assert {scheme: url.removeprefix("http://") for scheme, url in found.items()} == expected

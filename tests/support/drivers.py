"""A Go module that calls the real driver packages the way `unstall check` flags.

`make test` runs this file once (``python -m tests.support.drivers --prefetch DIR``) to
download the drivers and their dependencies into a module cache of their own, as it
installs any other tool the tests need; the test then builds the module with
``GOPROXY=off`` against that cache, so the test itself sends nothing beyond the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
DRIVER_CACHE: Final = ROOT / ".cache" / "drivers-gomodcache"
REQUIREMENTS: Final = {
    "github.com/go-sql-driver/mysql": "v1.10.1",
    "github.com/jackc/pgx/v5": "v5.12.0",
    "github.com/redis/go-redis/v9": "v9.23.0",
    "google.golang.org/grpc": "v1.85.0",
}
MODULE: Final = "fixture.test/drivers"

# One function per rule, each written the way the rule flags it.
MAIN_GO: Final = """package main

import (
	"context"
	"crypto/tls"
	"database/sql"
	"net"
	"net/http"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func clients() (*http.Response, error) {
	client := &http.Client{}
	_ = client
	return http.Get("http://127.0.0.1:1/")
}

func server(handler http.Handler) *http.Server {
	return &http.Server{Addr: "127.0.0.1:0", Handler: handler}
}

func serve(handler http.Handler) error {
	return http.ListenAndServe("127.0.0.1:0", handler)
}

func dial() (net.Conn, *tls.Conn, error) {
	plain, err := net.Dial("tcp", "127.0.0.1:1")
	if err != nil {
		return nil, nil, err
	}
	secure, err := tls.Dial("tcp", "127.0.0.1:1", &tls.Config{})
	return plain, secure, err
}

func databases(ctx context.Context) error {
	db, err := sql.Open("mysql", "user:pass@tcp(127.0.0.1:3306)/app")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("SELECT 1"); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, "postgres://user:pass@127.0.0.1:5432/app")
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

func cache() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ReadTimeout: -1})
}

func rpc() (*grpc.ClientConn, error) {
	credentials := grpc.WithTransportCredentials(insecure.NewCredentials())
	return grpc.Dial("127.0.0.1:1", credentials, grpc.WithBlock())
}

func main() {
	_, _ = clients()
	_ = server(nil)
	_ = serve
	_, _, _ = dial()
	_ = databases(context.Background())
	_ = cache()
	_, _ = rpc()
}
"""


def write_module(directory: Path) -> Path:
    """The fixture module (go.mod and main.go) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    requires = "".join(f"\t{path} {version}\n" for path, version in REQUIREMENTS.items())
    (directory / "go.mod").write_text(f"module {MODULE}\n\ngo 1.24\n\nrequire (\n{requires})\n")
    (directory / "main.go").write_text(MAIN_GO)
    return directory


def go_environment(cache: Path, home: Path, *, offline: bool) -> dict[str, str]:
    """go with this module cache; ``offline``: GOPROXY=off, only what the cache holds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        {
            "GOMODCACHE": str(cache),
            "GOPATH": str(home / "gopath"),
            # the user's build cache: compiled driver packages are reused between runs
            "GOCACHE": os.environ.get("GOCACHE") or str(Path.home() / ".cache" / "go-build"),
            "GOENV": "off",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod",
            "GOSUMDB": "off",
            "CGO_ENABLED": "0",
            "HOME": str(home),
        }
    )
    if offline:
        env["GOPROXY"] = "off"
    return env


def go(args: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> str:
    done = subprocess.run(
        ["go", *args], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def prefetch(cache: Path) -> None:
    """Download the drivers and everything they import into ``cache`` (uses the network:
    run by `make test` as set-up, never by a test)."""
    with tempfile.TemporaryDirectory(prefix="unstall-drivers-") as tmp:
        module = write_module(Path(tmp) / "module")
        env = go_environment(cache, Path(tmp), offline=False)
        go(["mod", "tidy"], cwd=module, env=env, timeout=1800)
        go(["build", "./..."], cwd=module, env=env, timeout=1800)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--prefetch", type=Path, default=DRIVER_CACHE)
    args = parser.parse_args(argv)
    prefetch(args.prefetch.resolve())
    print(f"driver modules are in {args.prefetch}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["DRIVER_CACHE", "REQUIREMENTS", "go", "go_environment", "prefetch", "write_module"]

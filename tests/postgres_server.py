"""A real PostgreSQL for tests: Debian's server, in a temporary data folder, on loopback.

`postgres_server()` runs `initdb` and `pg_ctl start` as an unprivileged user (PostgreSQL
refuses to run as root: under root the folder is handed to `nobody` and the commands run
through `runuser`), on a free port of 127.0.0.1 with trust authentication, creates a
database and yields its URL; the server is stopped and the folder removed afterwards. When
the server cannot start, it fails with what to do (`make postgres` installs it): the tests
that use it fail rather than skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "postgres_server"]

SERVER_USER = "nobody"
DATABASE = "stepladder"
START_SECONDS = 60


@dataclass(frozen=True)
class PostgresServer:
    """A running test server.

    Attributes:
        url: The test database's URL (postgresql://postgres@127.0.0.1:PORT/stepladder).
        port: Its port on 127.0.0.1.
        data_dir: Its data folder.
    """

    url: str
    port: int
    data_dir: Path
    restart_command: tuple[str, ...] = ()

    def database_url(self, name: str) -> str:
        """The URL of another database on this server (see `create_database`)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def restart(self) -> None:
        """Stop the server at once (clients' connections drop) and start it again."""
        _run(list(self.restart_command), "pg_ctl restart")
        _wait_until_ready(self, self.data_dir.parent / "server.log")

    def create_database(self, name: str) -> str:
        """Create database `name` on this server; its URL."""
        import psycopg

        admin = self.database_url("postgres")
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server with an empty `stepladder` database; stop it on exit."""
    bin_dir = _server_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="stepladder-pg-"))
    data = root / "data"
    prefix = _as_server_user(root)
    port = _free_port()
    log = root / "server.log"
    try:
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
              "--auth=trust", "--encoding=UTF8", "--no-sync"], "initdb")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=100"
        )
        _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
              "-w", "-t", str(START_SECONDS), "start"], "pg_ctl start", log)  # fmt: skip
        pg_ctl = (*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log))
        restart = (*pg_ctl, "-o", options, "-m", "immediate", "-w", "restart")
        server = PostgresServer(
            url=f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}",
            port=port,
            data_dir=data,
            restart_command=restart,
        )
        _wait_until_ready(server, log)
        server.create_database(DATABASE)
        yield server
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def _server_bin_dir() -> Path:
    """The folder of `initdb` and `pg_ctl` (Debian keeps them out of PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if versions:
        return Path(versions[0]).parent
    pytest.fail(
        "PostgreSQL's server is not installed (no initdb in PATH or /usr/lib/postgresql/*/bin): "
        "run `make postgres` as root (apt-get install postgresql).",
        pytrace=False,
    )


def _as_server_user(root: Path) -> list[str]:
    """The command prefix that runs the server unprivileged, with `root` handed to it."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError:
        pytest.fail(f"no '{SERVER_USER}' user to run PostgreSQL as (it refuses root).")
    os.chown(root, user.pw_uid, user.pw_gid)
    os.chmod(root, 0o700)
    return ["runuser", "-u", SERVER_USER, "--"]


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-2000:]
        if log is not None and log.is_file():
            detail += "\n" + log.read_text(errors="replace")[-2000:]
        pytest.fail(f"PostgreSQL could not start ({what} failed):\n{detail}", pytrace=False)


def _wait_until_ready(server: PostgresServer, log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with psycopg.connect(server.database_url("postgres"), connect_timeout=5):
                return
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
                pytest.fail(f"PostgreSQL did not accept connections: {error}\n{text}")
            time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

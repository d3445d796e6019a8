"""The Redis the channel-layer tests use: a throwaway redis-server of their own, or the one REDIS_URL names.

`make test` needs only Python and make, so by default every pytest session (each xdist
worker is one) starts its own redis-server on a free port in a temporary directory and
stops it at the end. CI's second run sets REDIS_URL to the machine's server; then each
worker keeps to Redis databases of its own, so workers never see each other's channels.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REDIS_SERVER = "/usr/bin/redis-server"  # Debian's redis-server package

# What needs a database of its own; on a shared server, each worker has one of each. CHANNEL_LAYER_DB
# serves the channel layer tests and, with REDIS_URL, the test process's own default layer.
CHANNEL_LAYER_DB, REMOTE_CSMS_DB, CROSS_PROCESS_DB = range(3)
DATABASES_PER_WORKER = 3
DATABASES = 16  # redis-server's default


class SharedRedis:
    """The server REDIS_URL names. Its database stays the test process's own default channel layer;
    each xdist worker gets a block of the other databases."""

    def __init__(self, url: str):
        self.base = urlsplit(url)
        named = int(self.base.path.strip("/") or 0)
        self.free_databases = [database for database in range(DATABASES) if database != named]

    def url(self, use: int) -> str:
        index = DATABASES_PER_WORKER * xdist_worker_index() + use
        if index >= len(self.free_databases):
            raise RuntimeError(
                f"REDIS_URL leaves room for {len(self.free_databases) // DATABASES_PER_WORKER} "
                "xdist workers; run with fewer (-n) or without REDIS_URL (own servers)"
            )
        return urlunsplit(self.base._replace(path=f"/{self.free_databases[index]}"))

    def stop(self) -> None:
        pass


class ThrowawayRedis:
    """redis-server in a child process: nothing saved, everything gone when it stops."""

    def __init__(self, binary: str):
        self.binary = binary
        self.directory = Path(tempfile.mkdtemp(prefix="csms-test-redis-"))
        self.process = None
        try:
            self._start()
        except BaseException:  # also a test timeout meanwhile: a server nobody holds would run on
            self.stop()
            raise

    def _start(self, attempts: int = 3) -> None:
        for _ in range(attempts):  # another process may take the free port before the server binds it
            self.port = free_port()
            self.process = subprocess.Popen(
                self._command(), cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
            if self._wait_until_answering():
                return
        raise RuntimeError(f"redis-server did not start ({attempts} attempts):\n{self.output()}")

    def url(self, use: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{use}"

    def _command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.directory / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]

    def _wait_until_answering(self, timeout: float = 10) -> bool:
        """True once our server answers; False if it exited (say, the port was taken meanwhile)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if is_our_server(self.port, self.process.pid):
                return True
            time.sleep(0.05)
        self.process.kill()
        self.process.wait()
        return False

    def output(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_redis() -> SharedRedis | ThrowawayRedis:
    url = os.environ.get("REDIS_URL")
    if url:
        return SharedRedis(url)
    binary = shutil.which("redis-server") or REDIS_SERVER
    if not os.access(binary, os.X_OK):  # fail every test that needs it, never skip
        pytest.fail(
            f"redis-server not found (on PATH or at {REDIS_SERVER}). The tests that use a Redis channel "
            "layer start a throwaway one of their own: install it with `apt-get install redis-server` "
            "(`make test` does when run as root), or set REDIS_URL to a running Redis.",
            pytrace=False,
        )
    return ThrowawayRedis(binary)


def xdist_worker_index() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_our_server(port: int, pid: int) -> bool:
    """Whether the server on the port is the child we started, not one that took the port first."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"INFO server\r\n")
            answer = b""
            while b"process_id:" not in answer or not answer.endswith(b"\r\n"):
                chunk = connection.recv(4096)
                if not chunk:
                    break
                answer += chunk
            return f"process_id:{pid}\r\n".encode() in answer
    except OSError:
        return False

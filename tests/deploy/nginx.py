"""The shipped nginx site (deploy/nginx.conf) on the operating system's nginx, in a throwaway prefix.

`make test` installs Debian's nginx package when it is missing (the Makefile's `nginx` target), as
it does chromium. A test using these helpers FAILS without nginx, never skips: CI must not pass
without having run the configuration a site installs. Certificates come from the `openssl` CLI.

The site file is rendered with the test's paths and ports by replacing the literals it ships with
(`SITE_LITERALS`): each must be in the file, so an edit of deploy/nginx.conf that moves one fails
here, loudly, instead of testing something else than what a site installs.
"""

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
NGINX_PATH = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")  # Debian's nginx package
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

# The process nginx runs as a site's: Debian's mime.types, the site, its snippet. Everything else
# (pid, logs, temporary files) stays in the prefix, so neither root nor /var is needed.
MAIN_CONF = """\
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include sites-enabled/csms;
}}
"""


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


def require_nginx() -> str:
    if not os.access(NGINX_PATH, os.X_OK):
        pytest.fail(
            f"no nginx at {NGINX_PATH} (NGINX_PATH): `make test` installs Debian's nginx package "
            "(apt-get install nginx); the deploy tests check the shipped site with it",
            pytrace=False,
        )
    return NGINX_PATH


def openssl(*arguments: str) -> None:
    subprocess.run([OPENSSL, *arguments], check=True, capture_output=True, timeout=60)


def self_signed_certificate(directory: Path, name: str = "localhost") -> Certificate:
    """A server certificate for `name` and 127.0.0.1, signed by itself: what a client must trust alone."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    openssl(
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}"),
        *("-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1"),
    )
    return Certificate(cert, key)


def client_certificate(directory: Path, authority: Certificate, common_name: str) -> Certificate:
    """A charger's client certificate (security profile 3) with subject CN `common_name`, signed by `authority`."""
    stem = directory / f"client-{len(list(directory.glob('client-*.pem')))}"
    cert, key, request = stem.with_suffix(".pem"), stem.with_suffix(".key"), stem.with_suffix(".csr")
    openssl(
        *("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", str(key), "-out", str(request), "-subj", f"/O=Charger maker/CN={common_name}"),
    )
    openssl(
        *("x509", "-req", "-in", str(request), "-CA", str(authority.cert), "-CAkey", str(authority.key)),
        *("-CAcreateserial", "-out", str(cert), "-days", "2"),
    )
    return Certificate(cert, key)


@dataclass(frozen=True)
class SitePorts:
    http: int  # the site's port 80
    https: int  # its port 443
    upstream: int  # the one `manage.py serve` behind it


def site_literals(ports: SitePorts, certificate: Certificate, static_dir: Path, chargers_ca: Path) -> dict:
    """What the shipped site says → what the test's site says (SITE_LITERALS of the module docstring)."""
    return {
        "listen 80;": f"listen 127.0.0.1:{ports.http};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{ports.https} ssl http2;",
        "server 127.0.0.1:8001;": f"server 127.0.0.1:{ports.upstream};",
        "server 127.0.0.1:8002;": f"server 127.0.0.1:{ports.upstream};",
        "/etc/csms/tls/fullchain.pem": str(certificate.cert),
        "/etc/csms/tls/privkey.pem": str(certificate.key),
        "/opt/csms/staticfiles/": f"{static_dir}/",
        # Security profile 3, shipped commented out: turned on here, as the operations guide says.
        "# ssl_client_certificate /etc/csms/tls/chargers-ca.pem;": f"ssl_client_certificate {chargers_ca};",
        "# ssl_verify_client optional;": "ssl_verify_client optional;",
    }


def render_site(literals: dict) -> str:
    site = (DEPLOY / "nginx.conf").read_text()
    for shipped, rendered in literals.items():
        assert shipped in site, f"deploy/nginx.conf no longer says {shipped!r}: update tests/deploy/nginx.py"
        site = site.replace(shipped, rendered)
    return site


class NginxSite:
    """The shipped site and snippet under a throwaway prefix: checked with `nginx -t`, or served."""

    def __init__(self, prefix: Path, literals: dict, ports: SitePorts):
        self.binary, self.prefix, self.ports = require_nginx(), prefix, ports
        conf = prefix / "conf"
        (conf / "sites-enabled").mkdir(parents=True)
        (conf / "snippets").mkdir()
        (conf / "sites-enabled" / "csms").write_text(render_site(literals))
        shutil.copy(DEPLOY / "csms-websocket.conf", conf / "snippets" / "csms-websocket.conf")
        # As root, nginx's workers would otherwise run as "nobody", who cannot read the test's files.
        user = "user root;" if os.geteuid() == 0 else ""
        (conf / "nginx.conf").write_text(MAIN_CONF.format(prefix=prefix, user=user))
        self.process = None

    def command(self, *extra: str) -> list[str]:
        conf = self.prefix / "conf" / "nginx.conf"
        return [
            self.binary,
            "-p",
            str(self.prefix),
            "-c",
            str(conf),
            "-e",
            str(self.prefix / "error.log"),
            *extra,
        ]

    def check(self) -> subprocess.CompletedProcess:
        """`nginx -t`: nginx's own verdict on the configuration, as `nginx -t` on a site's server."""
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self) -> None:
        self.process = subprocess.Popen(self.command("-g", "daemon off;"), stderr=subprocess.PIPE, text=True)
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.process.stderr.read()}")
            try:
                for port in (self.ports.http, self.ports.https):
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen within {timeout}s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # nginx's fast shutdown
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def site_ports(upstream: int) -> SitePorts:
    return SitePorts(http=free_port(), https=free_port(), upstream=upstream)

"""deploy/nginx.conf and its WebSocket snippet pass `nginx -t` on the operating system's nginx.

The shipped file once said `http2 on;`, which Debian 12's nginx 1.22 refuses (it needs 1.25.1):
every site following the guide stopped at `nginx -t`. Now the suite runs that very check.
"""

from pathlib import Path

from tests.deploy.nginx import DEPLOY, NginxSite, SitePorts, self_signed_certificate, site_literals


def shipped_site(tmp_path: Path) -> NginxSite:
    certificate = self_signed_certificate(tmp_path)
    chargers_ca = self_signed_certificate(tmp_path, "chargers-ca")
    ports = SitePorts(http=8080, https=8443, upstream=8001)  # `nginx -t` binds nothing
    literals = site_literals(ports, certificate, DEPLOY.parent / "static", chargers_ca.cert)
    return NginxSite(tmp_path / "nginx", literals, ports)


def test_it_passes_nginx_t_on_the_systems_nginx(tmp_path):
    checked = shipped_site(tmp_path).check()

    assert checked.returncode == 0, f"`nginx -t` refused deploy/nginx.conf:\n{checked.stderr}"
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr


def test_it_proxies_both_sockets_and_says_how_the_client_came():
    site = (DEPLOY / "nginx.conf").read_text()
    snippet = (DEPLOY / "csms-websocket.conf").read_text()

    for location in ("location /ocpp/", "location /ws/", "location /static/"):
        assert location in site
    for header in ("X-Forwarded-Proto $scheme", "X-Forwarded-For $proxy_add_x_forwarded_for"):
        assert header in snippet
    assert "proxy_read_timeout 1h;" in snippet

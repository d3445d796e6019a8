"""deploy/docker-compose.yml, Dockerfile and .dockerignore keep what a first `docker compose up` needed.

Docker itself is not on the test machines (no daemon, no compose plugin): these read the files as
compose would and check the order of the start, the files named, and what goes into the image.
"""

import re
import subprocess

import yaml

from tests.deploy.nginx import DEPLOY, ROOT


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())  # merge keys (<<) resolved


def test_it_starts_each_service_after_what_it_needs():
    services = compose()["services"]

    assert services["db"]["healthcheck"]["test"]
    assert services["setup"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("web1", "web2", "worker", "beat"):
        assert services[name]["depends_on"]["setup"] == {"condition": "service_completed_successfully"}
    for step in ("migrate", "collectstatic", "first_admin"):
        assert f"manage.py {step}" in services["setup"]["command"]


def test_it_serves_the_site_through_the_shipped_nginx_files():
    nginx = compose()["services"]["nginx"]
    mounted = [volume.split(":")[0] for volume in nginx["volumes"] if volume.startswith("./")]

    assert all((DEPLOY / path).exists() for path in mounted if path != "./tls"), mounted
    expression = re.search(r"sed -E '([^']+)'", nginx["command"]).group(1).replace("\\\\", "\\")
    site = subprocess.run(
        ["sed", "-E", expression, str(DEPLOY / "nginx.conf")], capture_output=True, text=True, check=True
    ).stdout
    assert "server web1:8001;" in site and "server web2:8002;" in site and "127.0.0.1:800" not in site


def test_it_keeps_secrets_and_local_state_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    dockerfile = (DEPLOY / "Dockerfile").read_text()

    assert {".venv", "var", "**/*.sqlite3", "**/secret_key", "**/.env"} <= set(ignored)
    [collectstatic] = [line for line in dockerfile.splitlines() if "collectstatic" in line and "RUN" in line]
    assert "SECRET_KEY=" in collectstatic, (
        "without a key, settings would write a generated one into the layer"
    )
    assert "env_file" not in (DEPLOY / "docker-compose.yml").read_text(), "compose reads deploy/.env itself"

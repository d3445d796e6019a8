"""Every page carries the Content-Security-Policy, and the deploy example passes Django's deploy checks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_allows_only_the_servers_own_scripts_on_every_page(client, clerk):
    client.force_login(clerk)

    for url in ("/cards/", "/desk/login/", "/admin/login/"):
        policy = client.get(url).headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, url
        assert "unsafe-inline" not in policy


def test_it_passes_the_deploy_checks_with_the_deploy_example(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    for line in (ROOT / "deploy" / "csms.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    env.update(SECRET_KEY=secrets.token_urlsafe(50), CSMS_VAR_DIR=str(tmp_path), DATABASE_URL="")

    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr

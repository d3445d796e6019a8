"""deploy/systemd/ passes `systemd-analyze verify`, rendered with this checkout's paths.

systemd ignores a line it does not understand with a warning and starts the unit anyway, so a typo
(`Restart=alwayz`) would go unnoticed until the day it mattered: any warning fails here.
"""

import os
import shutil
import subprocess

import pytest

from tests.deploy.nginx import DEPLOY, ROOT

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"


def test_it_verifies_every_unit_without_a_warning(tmp_path):
    if not os.access(SYSTEMD_ANALYZE, os.X_OK):
        pytest.fail(
            "no systemd-analyze: install Debian's systemd package to check deploy/systemd/", pytrace=False
        )
    env_file = tmp_path / "csms.env"
    env_file.write_text((DEPLOY / "csms.env.example").read_text())
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/etc/csms/csms.env", str(env_file)).replace("/opt/csms", str(ROOT))
        (tmp_path / unit.name).write_text(text.replace("/var/lib/csms", str(tmp_path)))
    (tmp_path / "csms-daphne@8001.service").symlink_to(tmp_path / "csms-daphne@.service")
    units = ["csms-daphne@8001.service", "csms-celery.service", "csms-celerybeat.service", "csms.target"]

    verified = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *units],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr

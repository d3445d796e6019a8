"""deploy/csms.env.example names every setting of csms/settings.py, and its values make a server that
passes Django's deployment checks.

A setting added to csms/settings.py without a line here fails this test: the example is the one place
a site's IT person learns what can be set.
"""

import ast
import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.deploy.nginx import DEPLOY, ROOT

ENV_READERS = {
    "envbool",
    "envint",
    "envfloat",
    "envchoice",
    "envlist",
    "envnetworks",
    "envurl",
    "envamounts",
    "envfile",
}


def settings_read_from_the_environment() -> set[str]:
    """The names csms/settings.py reads: its env helpers' and os.getenv's first argument, os.environ[...]."""
    tree = ast.parse((ROOT / "csms" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = ast.unparse(node.func)
            if function in ENV_READERS or function in ("os.getenv", "os.environ.get"):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            names.add(ast.unparse(node.slice).strip("'\""))
    return names


def example_lines() -> list[str]:
    return (DEPLOY / "csms.env.example").read_text().splitlines()


def example_values() -> dict[str, str]:
    """The settings the example sets (not those shown commented out at their default), as systemd reads them."""
    pairs = (line.partition("=") for line in example_lines() if line and not line.startswith("#"))
    return {name: value.strip('"') for name, _, value in pairs}


def test_it_documents_every_setting_the_server_reads():
    named = {line.lstrip("#").partition("=")[0] for line in example_lines() if "=" in line}

    missing = settings_read_from_the_environment() - named

    assert not missing, f"deploy/csms.env.example does not name {sorted(missing)}: add each with a comment"


def test_it_passes_djangos_deployment_checks_with_the_examples_values(tmp_path):
    environment = {
        "PATH": os.environ["PATH"],
        **example_values(),
        "SECRET_KEY": secrets.token_urlsafe(50),  # the one value nobody may copy from the example
        "CSMS_VAR_DIR": str(tmp_path),
        "STATIC_ROOT": str(tmp_path / "static"),
    }

    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert checked.returncode == 0, checked.stderr + checked.stdout


def test_it_has_every_line_in_a_form_systemd_reads(tmp_path):
    malformed = [
        line
        for line in example_lines()
        if line and not line.startswith("#") and (" = " in line or " #" in line.partition("=")[2].strip('"'))
    ]

    assert not malformed, f"systemd would misread {malformed}"
    assert Path(DEPLOY / "csms.env.example").read_text().endswith("\n")

"""`make run` on a new machine: `manage.py quickstart` prepares the embedded default once, and the secret key
is generated once and shared by every process of the install.

Each test runs the real commands in child processes on a fresh var dir, with no DATABASE_URL,
SECRET_KEY or REDIS_URL and DEBUG off: the embedded SQLite database, as `make run` gets it.
- quickstart migrates, prints the admin password once, registers the demo site; run again,
  it prints no new password and keeps var/secret_key (its content and its 0600 mode);
- the admin signs in with the printed password on one server process, and another server
  process on the same var dir honours that sign-in (the session is bound to the secret key).
"""

import json
import os
import re
import stat
import subprocess
import sys
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from tests.conftest import ROOT, ServerProcess

COMMAND_DEADLINE = 180  # seconds for one manage.py command (migrating a new SQLite database included)
PASSWORD_LINE = re.compile(r"as 'admin' with password: (\S+)")


def embedded_env(var_dir) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL")
    }
    env.update(CSMS_VAR_DIR=str(var_dir), DEBUG="False", STATIC_ROOT=str(var_dir / "static"))
    return env


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_DEADLINE,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def site_state(env: dict, password: str) -> dict:
    """What the embedded database holds, read by another process of the install."""
    script = (
        "import json; from django.contrib.auth import authenticate, get_user_model; "
        "from stations.models import Charger; from rfid.models import IdTag; from billing.models import Tariff; "
        f"admin = authenticate(username='admin', password={password!r}); "
        "print(json.dumps({'chargers': sorted(Charger.objects.values_list('charge_point_id', flat=True)), "
        "'id_tags': sorted(IdTag.objects.values_list('id_tag', flat=True)), "
        "'demo_balance': format(IdTag.objects.get(id_tag='DEMO-TAG-2').account.balance, '.2f'), "
        "'default_tariff': Tariff.objects.get(is_default=True).name, "
        "'superusers': get_user_model().objects.filter(is_superuser=True).count(), "
        "'admin_signs_in': bool(admin and admin.is_superuser)}))"
    )
    return json.loads(manage(env, "shell", "-c", script).strip().splitlines()[-1])


def key_file_state(var_dir) -> tuple[str, int]:
    key_file = var_dir / "secret_key"
    return key_file.read_text(), stat.S_IMODE(key_file.stat().st_mode)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A fresh install's first quickstart: its var dir, environment and what it printed."""
    var_dir = tmp_path_factory.mktemp("fresh-install") / "var"
    env = embedded_env(var_dir)
    return var_dir, env, manage(env, "quickstart", "--no-serve")


def test_it_prepares_the_site_once_and_keeps_its_secret_key(first_run):
    var_dir, env, first_output = first_run
    [password] = PASSWORD_LINE.findall(first_output)
    first_key = key_file_state(var_dir)

    second_output = manage(env, "quickstart", "--no-serve")

    assert (var_dir / "csms.sqlite3").exists()
    assert "DEMO-CP-1, DEMO-CP-2 are registered, with idTag DEMO-TAG-1" in first_output
    assert "password" not in second_output and "existing admin account" in second_output
    assert first_key[0].strip() and first_key[1] == 0o600
    assert key_file_state(var_dir) == first_key
    assert site_state(env, password) == {
        "chargers": ["DEMO-CP-1", "DEMO-CP-2"],
        "id_tags": ["DEMO-TAG-1", "DEMO-TAG-2"],
        "demo_balance": "50.00",  # run twice, credited once: a demo session moves money
        "default_tariff": "Demo tariff",
        "superusers": 1,
        "admin_signs_in": True,
    }


class Browser:
    """An admin's browser: cookies kept (for 127.0.0.1, whatever the port), redirects followed."""

    def __init__(self):
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, url: str) -> str:
        with self.opener.open(url, timeout=30) as page:
            return page.read().decode()

    def sign_in(self, server_url: str, password: str) -> str:
        login = f"{server_url}/admin/login/?next=/admin/"
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(login)).group(1)
        form = {"csrfmiddlewaretoken": token, "username": "admin", "password": password, "next": "/admin/"}
        with self.opener.open(login, data=urllib.parse.urlencode(form).encode(), timeout=30) as page:
            return page.read().decode()


@pytest.fixture
def two_servers(first_run):
    """Two server processes of the same install, started one after the other on its var dir."""
    _var_dir, env, _output = first_run
    (ROOT / "var").mkdir(exist_ok=True)  # where ServerProcess keeps the servers' output
    servers = [ServerProcess(env)]
    try:
        servers.append(ServerProcess(env))
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_it_keeps_the_admin_signed_in_on_another_process_of_the_install(first_run, two_servers):
    [password] = PASSWORD_LINE.findall(first_run[2])
    one, other = two_servers
    browser = Browser()

    signed_in = browser.sign_in(one.url, password)
    on_the_other = browser.get(f"{other.url}/admin/")

    assert "Site administration" in signed_in, "the admin could not sign in with the printed password"
    assert "Site administration" in on_the_other, "the other process did not honour the sign-in: another key?"

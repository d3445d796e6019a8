"""Every string a person reads is in the Simplified Chinese catalogue, translated, and compiled.

The catalogue is rebuilt from the code in a copy of the project (so the checkout's own locale/
is never touched) and compared with the committed one: a string added without its translation,
a fuzzy guess, a placeholder the translation lost, or a .mo file not compiled from its .po fails.
"""

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = Path("locale/zh_Hans/LC_MESSAGES")
COPIED = ["manage.py", "csms", "accounts", "billing", "rfid", "stations", "templates", "locale"]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    """The project copied, with its catalogue brought up to date with the code by makemessages."""
    copy = tmp_path_factory.mktemp("project")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "vendor"))
        else:
            shutil.copy2(source, copy / name)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "--locale",
            "zh_Hans",
            "--no-obsolete",
            "--no-location",
        ],
        cwd=copy,
        env={"PATH": "/usr/bin:/bin", "CSMS_VAR_DIR": str(copy / "var"), "PYTHONPATH": str(copy)},
        check=True,
        capture_output=True,
    )
    return copy


def gettext_tool(*arguments: str, cwd: Path) -> str:
    return subprocess.run(arguments, cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_it_translates_every_string_of_the_code(rebuilt):
    po = str(CATALOGUE / "django.po")
    untranslated = gettext_tool("msgattrib", "--untranslated", "--no-obsolete", po, cwd=rebuilt)
    fuzzy = gettext_tool("msgattrib", "--only-fuzzy", "--no-obsolete", po, cwd=rebuilt)
    assert untranslated == "", f"strings without a Chinese translation:\n{untranslated[:4000]}"
    assert fuzzy == "", f"fuzzy translations to check and confirm:\n{fuzzy[:4000]}"


def test_it_keeps_every_placeholder_in_the_translations():
    po = ROOT / CATALOGUE / "django.po"
    checked = subprocess.run(
        ["msgfmt", "--check", "--output-file", "/dev/null", str(po)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


def test_it_commits_the_catalogue_compiled_from_its_source(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(
        ["msgfmt", "--output-file", str(compiled), str(ROOT / CATALOGUE / "django.po")], check=True
    )
    with open(ROOT / CATALOGUE / "django.mo", "rb") as committed, open(compiled, "rb") as fresh:
        assert gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(fresh)._catalog

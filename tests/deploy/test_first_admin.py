"""`manage.py first_admin`: docker compose runs it at every start; it creates the site's first admin once."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tests.personas import PASSWORDS, admin


def test_it_creates_the_first_admin_once(db, monkeypatch):
    monkeypatch.setenv("CSMS_ADMIN_USERNAME", "site-admin")
    monkeypatch.setenv("CSMS_ADMIN_PASSWORD", "a-long-admin-passphrase-9")

    call_command("first_admin")
    monkeypatch.setenv("CSMS_ADMIN_PASSWORD", "another-long-passphrase-7")
    call_command("first_admin")  # the next start

    created = get_user_model().objects.get(is_superuser=True)
    assert created.username == "site-admin" and created.check_password("a-long-admin-passphrase-9")


def test_it_refuses_a_missing_or_weak_password_and_creates_nobody(db, monkeypatch):
    monkeypatch.delenv("CSMS_ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="CSMS_ADMIN_PASSWORD is not set"):
        call_command("first_admin")

    monkeypatch.setenv("CSMS_ADMIN_PASSWORD", "password")
    with pytest.raises(CommandError, match="too common"):
        call_command("first_admin")

    assert not get_user_model().objects.exists()


def test_it_leaves_a_site_that_has_an_admin_alone(db, monkeypatch):
    ada = admin()
    ada.is_superuser = True
    ada.save()
    monkeypatch.setenv("CSMS_ADMIN_PASSWORD", "a-long-admin-passphrase-9")

    call_command("first_admin")

    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert get_user_model().objects.get(username="ada").check_password(PASSWORDS["ada"])

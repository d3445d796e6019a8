"""A mistyped address or a QR code of a connector that is gone: the site's own page, with a way on."""

import pytest


@pytest.mark.django_db
def test_it_answers_an_unknown_address_with_the_sites_own_page(client):
    response = client.get("/c/NO-SUCH-CHARGER/1/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert b"This page does not exist" in response.content
    assert b'href="/c/"' in response.content  # where the code under a QR sticker can be typed


@pytest.mark.django_db
def test_it_says_so_in_chinese_to_a_chinese_phone(client):
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 404
    assert "此页面不存在" in response.content.decode()

"""The language in a real browser: the switch turns the pages Chinese and the choice stays.

Olga's browser asks for English; she chooses 简体中文 on the dashboard and every page after it
speaks Chinese, also after signing out and in again. A driver's phone set to Chinese gets
Chinese pages without touching the switch (Accept-Language).
"""

from playwright.sync_api import expect

from tests import personas
from tests.browser import open_page, screenshot, sign_in


def test_it_switches_to_chinese_and_remembers_the_choice(csms, browser_page):
    personas.operator()
    page = browser_page
    sign_in(page, csms.url, "olga")
    page.goto(f"{csms.url}/dashboard/")
    expect(page.locator("header nav")).to_contain_text("Dashboard")

    page.select_option("#language-select", "zh-hans")  # language.js submits the form on change

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("header nav")).to_contain_text("监控面板")
    page.goto(f"{csms.url}/chargers/")
    expect(page.locator("header nav")).to_contain_text("充电桩")
    expect(page.locator("footer label")).to_have_text("语言")
    screenshot(page, "language-chargers-zh")

    page.click("header form button[type=submit]")  # sign out: the choice is the browser's, not the session's
    sign_in(page, csms.url, "olga")
    expect(page.locator("header nav")).to_contain_text("监控面板")


def test_it_answers_a_chinese_browser_in_chinese(csms, chromium):
    page = open_page(chromium, locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        page.goto(f"{csms.url}/login/")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.locator("main form button[type=submit]")).to_have_text("登录")
        expect(page.locator("#language-select")).to_have_value("zh-hans")
    finally:
        page.context.close()

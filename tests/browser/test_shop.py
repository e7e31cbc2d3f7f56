"""The shop example in a real browser (issue 4): a shopper fills the cart through the page,
then an attacker edits the price in the DOM (the lecture's 100-won keyboard) and submits. The
back end refuses the order with 422 and records nothing; the honest checkout that follows is
charged the catalog's prices. Screenshots go to build/test-artifacts/.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from nuri_helpers import REPO_ROOT, TIME_SCALE, start_example

PUBLIC = REPO_ROOT / "examples" / "shop" / "public"
KEYBOARD, MOUSE = 45000, 19000


def order(s, number: int):
    try:
        with urllib.request.urlopen(s.url(f"/api/orders/{number}"), timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        assert e.code == 404
        return None


def wait_cart_rows(browser, count: int):
    WebDriverWait(browser, 10 * TIME_SCALE).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cart tbody tr")) == count)


def fill_cart(browser, s):
    browser.get(s.url("/"))
    WebDriverWait(browser, 10 * TIME_SCALE).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "yes")
    browser.find_element(By.ID, "add-1").click()
    wait_cart_rows(browser, 1)
    browser.find_element(By.ID, "add-1").click()
    WebDriverWait(browser, 10 * TIME_SCALE).until(
        lambda d: d.find_element(By.ID, "total-text").text == str(2 * KEYBOARD))
    browser.find_element(By.ID, "add-2").click()
    wait_cart_rows(browser, 2)
    WebDriverWait(browser, 10 * TIME_SCALE).until(
        lambda d: d.find_element(By.ID, "total").get_attribute("value") == str(2 * KEYBOARD + MOUSE))


def test_price_edited_in_the_dom_is_refused(nuri, browser, screenshot):
    s = start_example(nuri, "shop", PUBLIC, root=PUBLIC)
    fill_cart(browser, s)
    # The attacker's edit: the keyboard's price input and its shown text set to 100 won, and the
    # page's own script recomputes a total that agrees with it, so only the price gives it away.
    browser.execute_script("""
        const row = document.querySelector('#cart tr[data-item="1"]');
        row.querySelector('input[name=price]').value = '100';
        row.querySelector('.price').firstChild.textContent = '100';
        recompute();
    """)
    assert browser.find_element(By.ID, "total").get_attribute("value") == str(2 * 100 + MOUSE)
    screenshot("edited")
    browser.find_element(By.ID, "pay").click()
    WebDriverWait(browser, 10 * TIME_SCALE).until(lambda d: d.title == "Order refused")
    message = browser.find_element(By.ID, "message").text
    assert message == "Mechanical keyboard: the price sent (100) is not the price (45000 won)", message
    screenshot("refused")
    assert order(s, 1) is None  # nothing was charged

    # Back to the shop: the cart (a cookie) is still there; the honest checkout is charged the
    # catalog's prices.
    browser.get(s.url("/"))
    wait_cart_rows(browser, 2)
    browser.find_element(By.ID, "pay").click()
    WebDriverWait(browser, 10 * TIME_SCALE).until(lambda d: d.title == "Order placed")
    assert browser.find_element(By.ID, "charged").text == str(2 * KEYBOARD + MOUSE)
    placed = order(s, 1)
    assert placed["charged"] == 2 * KEYBOARD + MOUSE
    assert placed["lines"] == [{"id": 1, "price": KEYBOARD, "quantity": 2}, {"id": 2, "price": MOUSE, "quantity": 1}]
    screenshot("placed")


def test_total_edited_in_the_dom_is_refused(nuri, browser):
    s = start_example(nuri, "shop", PUBLIC, root=PUBLIC)
    fill_cart(browser, s)
    browser.execute_script("document.getElementById('total').value = '1';")
    browser.find_element(By.ID, "pay").click()
    WebDriverWait(browser, 10 * TIME_SCALE).until(lambda d: d.title == "Order refused")
    assert "the total sent (1) is not the total (109000 won)" in browser.find_element(By.ID, "message").text
    assert order(s, 1) is None

"""The shop example (issue 4): a back end that trusts nothing the browser sends. An attacker
with curl edits what the front end would post: prices, totals, quantities, items, the body's
type. Every tampered order is refused (422, 404, 415) and no order is recorded; an honest one is
charged the catalog's prices, whatever the form said. The browser side (a DOM edit) is in
tests/browser/test_shop.py.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from nuri_helpers import REPO_ROOT, TIME_SCALE, nuri_bin, start_example

PUBLIC = REPO_ROOT / "examples" / "shop" / "public"
KEYBOARD, MOUSE = 45000, 19000  # the catalog's prices (examples/shop/shop.cpp)


@pytest.fixture
def shop(nuri):
    return start_example(nuri, "shop", PUBLIC, root=PUBLIC)


def post(s, path, *args, jar=None):
    host, port = s.addrs[0]
    cmd = ["curl", "-sS", "--max-time", str(10 * TIME_SCALE), "-o", "-", "-w", "\n%{http_code}"]
    if jar:
        cmd += ["-b", str(jar), "-c", str(jar)]
    p = subprocess.run([*cmd, *args, f"http://{host}:{port}{path}"], capture_output=True,
                       timeout=20 * TIME_SCALE)
    assert p.returncode == 0, p.stderr
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code), body.decode()


def orders(s) -> int:
    """How many orders the shop recorded (it numbers them from 1)."""
    n = 0
    while post(s, f"/api/orders/{n + 1}")[0] == 200:
        n += 1
    return n


@pytest.mark.parametrize("form, status, message", [
    ("item=1&quantity=2&price=100&total=200", 422, "the price sent (100) is not the price (45000 won)"),
    ("item=1&quantity=2&price=45000&total=100", 422, "the total sent (100) is not the total (90000 won)"),
    ("item=1&quantity=2&price=45000", 422, "the total sent () is not the total"),
    ("item=1&quantity=2&price=45000.0&total=90000", 422, "the price sent (45000.0)"),
    ("item=1&quantity=0&price=45000&total=0", 422, "quantity must be a whole number 1..99"),
    ("item=1&quantity=100&price=45000&total=4500000", 422, "quantity must be a whole number 1..99"),
    ("item=1&quantity=-1&price=45000&total=-45000", 422, "quantity must be a whole number 1..99"),
    ("item=1&quantity=1.5&price=45000&total=67500", 422, "quantity must be a whole number 1..99"),
    ("item=1&quantity=abc&price=45000&total=0", 422, "quantity must be a whole number 1..99"),
    ("item=1&item=1&quantity=1&price=45000&total=45000", 422, "one quantity and one price"),
    ("item=99&quantity=1&price=1&total=1", 404, "no such item: 99"),
    ("item=x&quantity=1&price=1&total=1", 404, "no such item"),
    ("total=0", 422, "the order is empty"),
    ("item=1&quantity=1&price=45000&total=64000&item=2&quantity=1&price=1", 422, "Wireless mouse: the price sent (1)"),
])
def test_tampered_orders_are_refused(shop, form, status, message):
    code, body = post(shop, "/checkout", "-d", form)
    assert code == status, body
    assert message in body.replace("&quot;", '"'), body
    assert orders(shop) == 0


def test_a_checkout_that_is_not_a_form_is_415(shop):
    order = json.dumps({"item": 1, "quantity": 1, "price": 1, "total": 1})
    code, _ = post(shop, "/checkout", "-H", "Content-Type: application/json", "-d", order)
    assert code == 415
    code, _ = post(shop, "/checkout", "-H", "Content-Type: text/plain", "-d", "item=1&quantity=1&price=1&total=1")
    assert code == 415
    assert orders(shop) == 0


def test_a_multipart_checkout_is_415(shop):
    # The checkout takes application/x-www-form-urlencoded only, as the front end posts it (and
    # the 415 says), not what a <form enctype="multipart/form-data"> would post, honest or not.
    code, body = post(shop, "/checkout", "-F", "item=1", "-F", "quantity=1", "-F", f"price={KEYBOARD}",
                      "-F", f"total={KEYBOARD}")
    assert code == 415 and "application/x-www-form-urlencoded" in body
    assert orders(shop) == 0
    assert post(shop, "/api/cart", "-F", "item=1", "-F", "quantity=1")[0] == 415


def test_honest_order_is_charged_the_catalog_prices(shop):
    code, body = post(shop, "/checkout", "-d",
                      f"item=1&quantity=2&price={KEYBOARD}&item=2&quantity=3&price={MOUSE}"
                      f"&total={2 * KEYBOARD + 3 * MOUSE}")
    assert code == 201, body
    assert f'<span id="charged">{2 * KEYBOARD + 3 * MOUSE}</span>' in body
    code, body = post(shop, "/api/orders/1")
    assert code == 200
    assert json.loads(body) == {"id": 1, "charged": 2 * KEYBOARD + 3 * MOUSE, "lines": [
        {"id": 1, "price": KEYBOARD, "quantity": 2}, {"id": 2, "price": MOUSE, "quantity": 3}]}


def test_cart_cookie_is_priced_by_the_server(shop, tmp_path):
    jar = tmp_path / "jar"
    code, body = post(shop, "/api/cart", "-d", "item=3&quantity=2", jar=jar)
    assert code == 200 and json.loads(body)["total"] == 2 * 239000
    # The cookie is the client's too: a forged one with a bad entry and an unknown item is
    # read as far as it is valid, and priced from the catalog.
    host, port = shop.addrs[0]
    p = subprocess.run(["curl", "-sS", "-b", "cart=3x2.9x1.1x1000.garbage.2x1",
                        f"http://{host}:{port}/api/cart"], capture_output=True, timeout=10 * TIME_SCALE)
    cart = json.loads(p.stdout)
    assert [(line["id"], line["quantity"], line["price"]) for line in cart["lines"]] == [(2, 1, MOUSE), (3, 2, 239000)]
    assert cart["total"] == MOUSE + 2 * 239000
    assert post(shop, "/api/cart", "-d", "item=7&quantity=1", jar=jar)[0] == 404
    assert post(shop, "/api/cart", "-d", "item=3&quantity=100", jar=jar)[0] == 422
    assert post(shop, "/api/cart", "-H", "Content-Type: text/plain", "-d", "item=3", jar=jar)[0] == 415


def test_front_end_is_served(shop):
    code, body = post(shop, "/")
    assert code == 200 and "<title>nuri shop</title>" in body
    code, body = post(shop, "/shop.js")
    assert code == 200 and "URLSearchParams" in body


def test_nuri_get_is_the_shoppers_browser(shop, tmp_path):
    """issue 6's `nuri get` against this back end: forms (url-encoded, and multipart refused) and
    the cart cookie through a cookie jar, as a browser would send them."""
    base = shop.url("")
    jar = tmp_path / "jar.txt"

    def get(*args):
        p = subprocess.run([str(nuri_bin()), "get", *args], capture_output=True, timeout=20 * TIME_SCALE)
        return p.returncode, p.stdout.decode()

    code, out = get("-c", str(jar), "-d", "item=2&quantity=3", base + "/api/cart")
    assert code == 0 and json.loads(out)["total"] == 3 * MOUSE
    code, out = get("-b", str(jar), base + "/api/cart")
    assert code == 0 and json.loads(out)["lines"][0]["quantity"] == 3
    code, out = get("--fail", "--data-urlencode", "item=1", "--data-urlencode", "quantity=1",
                    "--data-urlencode", "price=100", "--data-urlencode", "total=100", base + "/checkout")
    assert code == 22  # curl's exit code for an HTTP error with --fail
    code, out = get("-F", "item=1", "-F", "quantity=2", "-F", f"price={KEYBOARD}", "-F", f"total={2 * KEYBOARD}",
                    base + "/checkout")
    assert code == 0 and "a checkout is a form (application/x-www-form-urlencoded)" in out  # 415
    code, out = get("-d", f"item=1&quantity=2&price={KEYBOARD}&total={2 * KEYBOARD}", base + "/checkout")
    assert code == 0 and f'<span id="charged">{2 * KEYBOARD}</span>' in out
    assert orders(shop) == 1

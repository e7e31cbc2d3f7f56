"""nuri's HTML pages in a real browser: /server-status and a directory listing (issue 3, "Browser").

Headless Chromium renders the pages; the tests read what it shows (text after HTML parsing, so
escaping mistakes show), follow links, click the listing's column headers, and save screenshots
in build/test-artifacts/. The JSON forms are tested in tests/integration.
"""
from __future__ import annotations

import calendar
import json
import os
import re
import time
from pathlib import Path

from nuri_helpers import TIME_SCALE, req


class By:
    """Selenium's locator strategies (selenium.webdriver.common.by), spelled out so that this
    module imports without selenium and the conftest can skip or fail with a clear reason."""
    XPATH = "xpath"
    LINK_TEXT = "link text"
    TAG_NAME = "tag name"


# ----------------------------------------------------------------------------------------------
# /server-status

READ_STATUS_JS = """
if (document.readyState !== "complete") return null;
var summary = document.getElementById("summary"), conns = document.getElementById("connections");
if (!summary || !conns) return null;
var out = {title: document.title, h1: document.querySelector("h1").textContent, summary: [],
           headers: [], rows: []};
Array.prototype.forEach.call(summary.rows, function(r) {
  out.summary.push([r.cells[0].textContent, r.cells[1].textContent]);
});
Array.prototype.forEach.call(conns.rows, function(r, i) {
  var cells = Array.prototype.map.call(r.cells, function(c) {
    return {text: c.textContent, elements: c.children.length};
  });
  if (i === 0) out.headers = cells.map(function(c) { return c.text; });
  else out.rows.push(cells);
});
out.page_id = window.__nuri_page_id || (window.__nuri_page_id = Math.random());
return out;
"""


def _status_json(s) -> dict:
    r = s.get("/server-status?format=json")
    assert r.status == 200, str(r)
    return json.loads(r.body)


def _read_status(browser, timeout=5.0):
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        page = browser.execute_script(READ_STATUS_JS)
        if page is not None or time.monotonic() > deadline:
            assert page is not None, "the status page did not render its tables"
            return page
        time.sleep(0.1)


def _row_for(page, client):
    rows = [r for r in page["rows"] if r[0]["text"] == client]
    assert len(rows) <= 1, f"{len(rows)} rows for {client}: {page['rows']}"
    return rows[0] if rows else None


def test_status_page(nuri, browser, screenshot, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.txt").write_bytes(b"hello")
    started = time.time()
    s = nuri("--workers", "2", root=root)
    assert s.get("/missing").status == 404
    before = _status_json(s)  # also starts the watch, so request lines are recorded

    browser.get(s.url("/server-status"))
    first = _read_status(browser)
    assert first["title"] == "nuri status" and first["h1"] == "nuri status", first

    # Held open while the page is shown: a keep-alive connection after one request (its target
    # needs escaping), and one that sent half a request head.
    idle = s.connect()
    target = "/a.txt?x=<i>&y='\""
    idle.send(req(target))
    r = idle.read_response()
    assert r.status == 200 and r.body == b"hello", str(r)
    partial = s.connect()
    partial.send(b"GET /half HTTP/1.1\r\nHost: localhost\r\n")
    idle_client = f"127.0.0.1:{idle.sock.getsockname()[1]}"
    partial_client = f"127.0.0.1:{partial.sock.getsockname()[1]}"

    # No reload from the test: the page's own refresh must bring the new connections in (a
    # worker publishes its table once a second, so a row may first show an older state; the
    # page reloads every 2 s).
    deadline = time.monotonic() + 10 * TIME_SCALE
    while True:
        page = _read_status(browser)
        mine = _row_for(page, idle_client), _row_for(page, partial_client)
        if (all(mine) and mine[0][4]["text"] == "1") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert page["page_id"] != first["page_id"], "the page never refreshed itself"
    assert all(mine), (f"rows for {idle_client} and {partial_client} missing after 10 s:\n"
                       f"{page['rows']}")
    screenshot()
    after = _status_json(s)

    assert page["headers"] == ["Client", "Local", "State", "Request", "Requests", "Bytes sent",
                               "Age (s)"], page["headers"]
    local = f"127.0.0.1:{s.port}"
    idle_row, partial_row = ([c["text"] for c in row] for row in mine)
    assert idle_row[1:6] == [local, "keep-alive idle", f"GET {target} HTTP/1.1", "1", "5"], idle_row
    # The request line is text, not markup.
    assert [c["elements"] for c in mine[0]] == [0] * 7, mine[0]
    assert partial_row[1:6] == [local, "reading request", "", "0", "0"], partial_row
    for row in (idle_row, partial_row):
        assert re.fullmatch(r"\d+\.\d", row[6]) and float(row[6]) <= time.time() - started + 1, row

    # The counters are those of a moment between the two JSON snapshots.
    summary = dict(page["summary"])
    assert [k for k, _ in page["summary"]] == [
        "Uptime", "Workers", "Requests", "Requests/s (last minute)", "1xx / 2xx / 3xx / 4xx / 5xx",
        "Bytes sent", "Connections accepted / open"], summary
    uptime = re.fullmatch(r"(\d+) s", summary["Uptime"])
    assert uptime and int(uptime[1]) <= time.time() - started + 1, summary
    assert summary["Workers"] == "2"

    def between(text, key):
        assert before[key] <= int(text) <= after[key], (key, text, before[key], after[key])

    between(summary["Requests"], "requests_total")
    assert int(summary["Requests"]) >= 3  # /missing, the first JSON, the idle connection's
    assert re.fullmatch(r"\d+\.\d\d", summary["Requests/s (last minute)"]), summary
    classes = summary["1xx / 2xx / 3xx / 4xx / 5xx"].split(" / ")
    assert len(classes) == 5 and all(c.isdigit() for c in classes), summary
    for name, text in zip(("1xx", "2xx", "3xx", "4xx", "5xx"), classes):
        assert before["requests_by_class"][name] <= int(text) <= after["requests_by_class"][name]
    assert int(classes[3]) >= 1 and int(classes[1]) >= 2, summary
    between(summary["Bytes sent"], "bytes_total")
    accepted, open_now = summary["Connections accepted / open"].split(" / ")
    between(accepted, "connections_accepted")
    assert int(open_now) >= 3, summary  # idle, partial, and the browser's own


# ----------------------------------------------------------------------------------------------
# Directory listing

MTIME_BASE = calendar.timegm((2021, 3, 4, 5, 6, 7))
NASTY = "a<b&c>.txt"
# name: (size, seconds after MTIME_BASE, size as shown); sizes and times all differ, and each
# column orders the rows differently.
FILES = {
    NASTY: (5, 300, "5 B"),
    "Zeta.bin": (1536 * 1024, 100, "1.5 MiB"),
    "alpha.txt": (1023, 0, "1023 B"),
    "caf\u00e9.txt": (20000, 500, "20 KiB"),
    "empty.txt": (0, 400, "0 B"),
    "my file.txt": (1024, 200, "1.0 KiB"),
}
SUBDIR = ("sub <&> dir", 600)  # its own listing's title needs escaping too
SUB = SUBDIR[0] + "/"
SUB_URL = "sub%20%3C%26%3E%20dir/"


def _iso(offset):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(MTIME_BASE + offset))


def _listing_root(base: Path) -> Path:
    files = base / "files"
    (files / SUBDIR[0]).mkdir(parents=True)
    (files / SUBDIR[0] / "inner.txt").write_bytes(b"inner file\n")
    for name, (size, offset, _) in FILES.items():
        p = files / name
        with open(p, "wb") as f:
            f.write(name.encode()[:size].ljust(size, b"."))
        t = MTIME_BASE + offset
        os.utime(p, (t, t))
    t = MTIME_BASE + SUBDIR[1]
    os.utime(files / SUBDIR[0], (t, t))
    return base


def _serve_listing(nuri, tmp_path):
    root = _listing_root(tmp_path / "site")
    conf = tmp_path / "nuri.toml"
    conf.write_text(f'[[listen]]\naddress = "127.0.0.1:0"\n[[host]]\nroot = "{root}"\n'
                    '  [[host.location]]\n  prefix = "/files/"\n  directory_listing = true\n')
    s = nuri("--config", str(conf), listen=(), run=False)
    s.n_listeners = 1
    s.root = root.resolve()  # the leak check allows cached fds of files under the root
    return s.start()


READ_LISTING_JS = """
var rows = Array.prototype.map.call(document.querySelectorAll("tbody tr"), function(r) {
  var a = r.cells[0].querySelector("a");
  return {name: r.cells[0].textContent, href: a && a.href, size: r.cells[1].textContent,
          modified: r.cells[2].textContent, cells: r.cells.length,
          markup: r.cells[0].querySelectorAll("*").length};
});
var headers = Array.prototype.map.call(document.querySelectorAll("thead th"), function(th) {
  return {text: th.textContent, sort: th.getAttribute("aria-sort"),
          arrow: getComputedStyle(th, "::after").content};
});
var parent = document.querySelector('a[href="../"]');
return {title: document.title, h1: document.querySelector("h1").textContent, rows: rows,
        headers: headers, parent: parent && parent.href};
"""


def test_directory_listing(nuri, browser, screenshot, tmp_path):
    s = _serve_listing(nuri, tmp_path)
    base = s.url("/files/")
    browser.get(base)
    page = browser.execute_script(READ_LISTING_JS)
    assert page["title"] == "Index of /files/" and page["h1"] == "Index of /files/", page
    assert page["parent"] == s.url("/"), page["parent"]
    assert [h["text"] for h in page["headers"]] == ["Name", "Size", "Last modified"], page
    assert all(h["sort"] is None for h in page["headers"]), page["headers"]

    expected = {SUB: ("-", _iso(SUBDIR[1]))}
    expected.update({n: (shown, _iso(offset)) for n, (_, offset, shown) in FILES.items()})
    shown = {r["name"]: (r["size"], r["modified"]) for r in page["rows"]}
    assert shown == expected, page["rows"]
    assert all(r["cells"] == 3 and r["markup"] == 1 for r in page["rows"]), page["rows"]
    hrefs = {r["name"]: r["href"] for r in page["rows"]}
    assert hrefs[NASTY] == base + "a%3Cb%26c%3E.txt", hrefs
    assert hrefs["my file.txt"] == base + "my%20file.txt", hrefs
    assert hrefs["caf\u00e9.txt"] == base + "caf%C3%A9.txt", hrefs
    assert hrefs[SUB] == base + SUB_URL, hrefs

    # As served: directories first, then names in byte order.
    by_name = [SUB, "Zeta.bin", NASTY, "alpha.txt", "caf\u00e9.txt", "empty.txt", "my file.txt"]
    assert [r["name"] for r in page["rows"]] == by_name

    size_of = {n: v[0] for n, v in FILES.items()} | {SUB: -1}
    time_of = {n: v[1] for n, v in FILES.items()} | {SUB: SUBDIR[1]}
    by_size = sorted(by_name, key=size_of.get)
    by_time = sorted(by_name, key=time_of.get)
    assert len({tuple(by_name), tuple(by_size), tuple(by_time)}) == 3  # each click shows

    def click(header, want_order, want_sort):
        th = browser.find_element(By.XPATH, f"//thead//th[normalize-space()='{header}']")
        th.click()
        page = browser.execute_script(READ_LISTING_JS)
        assert [r["name"] for r in page["rows"]] == want_order, (header, want_sort, page["rows"])
        sorts = {h["text"]: h["sort"] for h in page["headers"]}
        assert sorts == {h: (want_sort if h == header else None) for h in sorts}, sorts
        arrow = {"ascending": '" \u25b2"', "descending": '" \u25bc"'}[want_sort]
        assert [h["arrow"] for h in page["headers"] if h["text"] == header] == [arrow], page
        return page

    click("Size", by_size, "ascending")
    click("Size", by_size[::-1], "descending")
    click("Last modified", by_time, "ascending")
    click("Last modified", by_time[::-1], "descending")
    click("Name", by_name, "ascending")
    page = click("Name", by_name[::-1], "descending")
    # Sorting moves rows; it does not change them.
    assert {r["name"]: (r["size"], r["modified"]) for r in page["rows"]} == expected
    screenshot()

    # The links work from the browser: the file with the nasty name, the subdirectory's
    # listing, and its parent link back here.
    browser.find_element(By.LINK_TEXT, NASTY).click()
    assert browser.current_url == base + "a%3Cb%26c%3E.txt"
    assert browser.find_element(By.TAG_NAME, "body").text == NASTY[:5]
    browser.get(base)
    browser.find_element(By.LINK_TEXT, SUB).click()
    sub = browser.execute_script(READ_LISTING_JS)
    assert browser.current_url == base + SUB_URL
    assert sub["h1"] == sub["title"] == f"Index of /files/{SUB}", sub
    assert [(r["name"], r["size"]) for r in sub["rows"]] == [("inner.txt", "11 B")], sub["rows"]
    assert sub["parent"] == base, sub["parent"]
    browser.find_element(By.LINK_TEXT, "../").click()
    assert browser.current_url == base
    assert browser.find_element(By.TAG_NAME, "h1").text == "Index of /files/"

"""The status page, Prometheus metrics and the health check (issue 3, "Seeing who is connected")."""
import json
import re
import socket
import time

from nuri_helpers import req


def _json(s, path="/server-status?format=json", source=None):
    r = s.get(path)
    assert r.status == 200, str(r)
    assert r.header("Content-Type") == "application/json", str(r)
    return json.loads(r.body)


def test_healthz(nuri, www):
    s = nuri(root=www.root)
    r = s.get("/healthz")
    assert r.status == 200 and r.body == b"ok\n", str(r)
    assert r.header("Cache-Control") == "no-store"


def test_metrics_count_requests_by_class(nuri, www):
    s = nuri("--workers", "2", root=www.root)
    for _ in range(3):
        assert s.get("/a.txt").status == 200
    assert s.get("/missing").status == 404
    r = s.get("/metrics")
    assert r.status == 200 and r.header("Content-Type").startswith("text/plain; version=0.0.4"), str(r)
    text = r.body.decode()
    values = dict(re.findall(r'^(nuri_\w+(?:\{[^}]*\})?) (\d+)$', text, re.M))
    assert values['nuri_requests_total{class="2xx"}'] == "3", text
    assert values['nuri_requests_total{class="4xx"}'] == "1", text
    assert values["nuri_workers"] == "2", text
    assert int(values["nuri_connections_accepted_total"]) >= 5, text
    assert int(values["nuri_response_bytes_total"]) >= 3 * len(www.files["/a.txt"]), text
    assert "# TYPE nuri_requests_total counter" in text


def test_status_json_lists_open_connections(nuri, www):
    s = nuri("--workers", "1", root=www.root)
    idle = s.connect()
    idle.send(req("/a.txt"))
    assert idle.read_response().status == 200
    _json(s)  # starts the watch
    data = _json(s)
    assert data["workers"] == 1
    assert data["requests_by_class"]["2xx"] >= 2
    local_port = idle.sock.getsockname()[1]
    mine = [c for c in data["connections"] if c["client"] == f"127.0.0.1:{local_port}"]
    assert len(mine) == 1, data["connections"]
    assert mine[0]["state"] == "keep-alive idle", mine
    assert mine[0]["local"] == f"127.0.0.1:{s.port}"
    assert mine[0]["requests"] == 1 and mine[0]["bytes_sent"] == len(www.files["/a.txt"])
    idle.close()


def test_status_html_refreshes_and_escapes(nuri, www):
    s = nuri("--workers", "1", root=www.root)
    c = s.connect()
    c.send(req("/a.txt?<script>alert(1)</script>"))
    assert c.read_response().status == 200
    s.get("/server-status")
    c.send(req("/a.txt?<script>alert(1)</script>"))
    assert c.read_response().status == 200
    r = s.get("/server-status")
    assert r.status == 200 and r.header("Content-Type") == "text/html; charset=utf-8"
    body = r.body.decode()
    assert '<meta http-equiv="refresh"' in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert" not in body
    c.close()


def _fetch_from(port, source, path):
    c = socket.create_connection(("127.0.0.1", port), source_address=(source, 0), timeout=5)
    c.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := c.recv(4096):
        data += chunk
    c.close()
    return data


def test_status_access_rules(nuri, www, tmp_path):
    conf = tmp_path / "status.toml"
    conf.write_text('[status]\nallow = ["127.0.0.1"]\ndeny = ["all"]\n'
                    f'[[host]]\nroot = "{www.root}"\n')
    s = nuri("--config", str(conf), root=www.root)
    assert _fetch_from(s.port, "127.0.0.1", "/metrics").startswith(b"HTTP/1.1 200")
    for path in ("/server-status", "/metrics", "/healthz"):
        assert _fetch_from(s.port, "127.0.0.2", path).startswith(b"HTTP/1.1 403"), path
    # The files themselves are not behind the status rules.
    assert _fetch_from(s.port, "127.0.0.2", "/a.txt").startswith(b"HTTP/1.1 200")


def test_status_methods(nuri, www):
    s = nuri(root=www.root)
    r = s.get("/server-status", method="POST", headers=[("Content-Length", "0")])
    assert r.status == 405 and r.header("Allow") == "GET, HEAD", str(r)
    r = s.get("/metrics", method="HEAD")
    assert r.status == 200 and r.body == b""


def test_requests_per_second_over_the_last_minute(nuri, www):
    s = nuri(root=www.root)
    for _ in range(30):
        assert s.get("/a.txt").status == 200
    time.sleep(1.1)  # only whole seconds count
    data = _json(s)
    assert 30 / 60 - 0.01 <= data["requests_per_second_last_minute"] <= 32 / 60 + 0.01, data

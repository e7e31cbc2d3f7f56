"""A DNS server for tests, on 127.0.0.1 over UDP (standard library only): the forwarder's name
re-resolution, `nuri resolve`'s error paths and the terminal tests use it."""
from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Callable


class FakeDns:
    """Answers every name with `records` ({'A': [...], 'AAAA': [...]}, changeable at any time)
    and `ttl`. With `rcode` (2 SERVFAIL, 3 NXDOMAIN...) it answers every question with that code
    and no record instead; with `garbage` it claims an answer that is not in the message; with
    `reply` it sends what reply(query) returns (None: nothing). With `tcp_reply` it also listens
    on TCP on the same port, sends those bytes to each connection and closes it.
    `queries` counts the questions and `received` keeps them, with `times` their arrival
    (time.monotonic()); `port` and `address` ("127.0.0.1:PORT") say where it is."""

    def __init__(self, records: dict | None = None, ttl: int = 1, rcode: int = 0, garbage: bool = False,
                 reply: Callable[[bytes], bytes | None] | None = None, tcp_reply: bytes | None = None):
        self.records = records or {}
        self.ttl = ttl
        self.rcode, self.garbage, self.reply = rcode, garbage, reply
        self.queries = 0
        self.received: list[bytes] = []
        self.times: list[float] = []
        self.tcp = None
        # A UDP port the kernel picked may be taken on TCP (another test's socket): pick again.
        for attempt in range(50):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
            if tcp_reply is None:
                break
            try:
                self.tcp = socket.create_server(("127.0.0.1", self.port))
                break
            except OSError:
                self.sock.close()
                if attempt == 49:
                    raise
        self.sock.settimeout(0.05)
        self.address = f"127.0.0.1:{self.port}"
        self._stop = False
        self._threads = [threading.Thread(target=self._run, daemon=True)]
        if self.tcp is not None:
            self.tcp.settimeout(0.05)
            self._threads.append(threading.Thread(target=self._serve_tcp, args=(tcp_reply,), daemon=True))
        for t in self._threads:
            t.start()

    def _answer(self, query: bytes) -> bytes | None:
        if self.reply:
            return self.reply(query)
        qid, flags = struct.unpack(">HH", query[:4])
        if self.garbage:  # one answer announced, none there
            return struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + query[12:]
        if self.rcode:  # QR, the client's RD echoed, RA, the code
            return struct.pack(">HHHHHH", qid, 0x8000 | (flags & 0x0100) | 0x80 | self.rcode, 1, 0, 0, 0) + query[12:]
        pos = 12
        while query[pos] != 0:
            pos += 1 + query[pos]
        qtype = int.from_bytes(query[pos + 1:pos + 3], "big")
        question = query[12:pos + 5]
        kind = {1: "A", 28: "AAAA"}.get(qtype)
        family = socket.AF_INET if kind == "A" else socket.AF_INET6
        answers = [socket.inet_pton(family, a) for a in self.records.get(kind, [])] if kind else []
        head = query[:2] + b"\x81\x80" + (1).to_bytes(2, "big") + len(answers).to_bytes(2, "big") + b"\0\0\0\0"
        body = b"".join(b"\xc0\x0c" + qtype.to_bytes(2, "big") + b"\x00\x01" + self.ttl.to_bytes(4, "big")
                        + len(a).to_bytes(2, "big") + a for a in answers)
        return head + question + body

    def _run(self):
        while not self._stop:
            try:
                query, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            self.received.append(query)
            self.times.append(time.monotonic())
            try:
                answer = self._answer(query)
                if answer is not None:
                    self.sock.sendto(answer, peer)
            except (IndexError, struct.error, OSError):
                pass  # a malformed question gets no answer

    def _serve_tcp(self, data: bytes):
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(data)

    def __enter__(self) -> "FakeDns":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self):
        self._stop = True
        for t in self._threads:
            t.join(2)
        self.sock.close()
        if self.tcp:
            self.tcp.close()

"""Malformed HTTP/1.1 on raw sockets: request lines, headers, framing, truncated, stalled and slow bodies.

Each table case opens a fresh connection, writes its bytes, and expects the status (and, where the
server gets as far as an XRPC error body, the error name) and then the connection closed by the
server within a few seconds: a request it cannot parse must never leave a connection hanging.
The server is checked healthy after each case.
"""

import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

ANSWER_SECONDS = 5


@dataclass
class Wire:
    name: str
    data: bytes
    status: int
    error: str = None            # the XRPC error name, when the answer has a JSON body
    shutdown: bool = False       # half-close after writing (the client has nothing more to send)


def _head(line, *headers, body=b""):
    return (line + "\r\nHost: pds.test\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode("latin-1") + body


SESSION = "/xrpc/com.atproto.server.createSession"
JSON = "Content-Type: application/json"

WIRE_CASES = [
    # request lines
    Wire("garbage-request-line", b"GARBAGE\r\n\r\n", 400, "InvalidRequest"),
    Wire("http-0.9-request", b"GET /\r\n\r\n", 400, "InvalidRequest"),
    Wire("http2-preface-on-http1", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "InvalidRequest"),
    Wire("http-version-3", _head("GET /xrpc/_health HTTP/3.0"), 400, "InvalidRequest"),
    Wire("http-version-garbage", _head("GET /xrpc/_health HTTX/1.1"), 400, "InvalidRequest"),
    Wire("space-in-target", _head("GET /xrpc/_health now HTTP/1.1"), 400, "InvalidRequest"),
    Wire("lf-only-line-endings", b"GET /xrpc/_health HTTP/1.1\nHost: pds.test\n\n", 400, "InvalidRequest"),
    Wire("binary-garbage", bytes(range(256)) * 4, 400, "InvalidRequest"),
    Wire("tls-client-hello-on-http", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, 400, "InvalidRequest"),
    # headers
    Wire("header-without-colon", _head("GET /xrpc/_health HTTP/1.1", "NoColonHere"), 400, "InvalidRequest"),
    Wire("header-with-nul", _head("GET /xrpc/_health HTTP/1.1", "X-A: a\x00b"), 400, "InvalidRequest"),
    Wire("header-name-with-space", _head("GET /xrpc/_health HTTP/1.1", "X Bad: v"), 400, "InvalidRequest"),
    Wire("obsolete-line-folding", _head("GET /xrpc/_health HTTP/1.1", "X-A: a", " folded"), 400, "InvalidRequest"),
    Wire("header-100kb", _head("GET /xrpc/_health HTTP/1.1", "X-Big: " + "a" * 100_000), 431, "InvalidRequest"),
    Wire("header-1mb", _head("GET /xrpc/_health HTTP/1.1", "X-Big: " + "a" * 1_000_000), 431, "InvalidRequest"),
    Wire("twenty-thousand-headers", _head("GET /xrpc/_health HTTP/1.1", *[f"X-H{i}: v" for i in range(20_000)]),
         431, "InvalidRequest"),
    Wire("url-200kb", _head("GET /xrpc/com.atproto.repo.listRecords?repo=" + "a" * 200_000 + " HTTP/1.1"),
         431, "InvalidRequest"),
    # framing
    Wire("content-length-and-chunked", _head("POST " + SESSION + " HTTP/1.1", JSON, "Content-Length: 5",
                                             "Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400, "InvalidRequest"),
    Wire("negative-content-length", _head("POST " + SESSION + " HTTP/1.1", JSON, "Content-Length: -1", body=b"{}"),
         400, "InvalidRequest"),
    Wire("non-numeric-content-length", _head("POST " + SESSION + " HTTP/1.1", JSON, "Content-Length: abc",
                                             body=b"{}"), 400, "InvalidRequest"),
    Wire("conflicting-content-lengths", _head("POST " + SESSION + " HTTP/1.1", JSON, "Content-Length: 2",
                                              "Content-Length: 3", body=b"{} "), 400, "InvalidRequest"),
    Wire("bad-chunk-size", _head("POST " + SESSION + " HTTP/1.1", JSON, "Transfer-Encoding: chunked",
                                 "Connection: close", body=b"zz\r\n{}\r\n0\r\n\r\n"), 400, "InvalidRequest"),
    Wire("chunk-longer-than-declared", _head("POST " + SESSION + " HTTP/1.1", JSON, "Transfer-Encoding: chunked",
                                             "Connection: close", body=b"2\r\n{}xx\r\n0\r\n\r\n"), 400, "InvalidRequest"),
    Wire("unsupported-transfer-encoding", _head("POST " + SESSION + " HTTP/1.1", JSON, "Transfer-Encoding: gzip",
                                                "Connection: close", body=b"{}"), 400, "InvalidRequest"),
    # bodies cut short: the client half-closes before the declared length arrived
    Wire("truncated-json-body", _head("POST " + SESSION + " HTTP/1.1", JSON, "Content-Length: 100",
                                      body=b'{"identifier":'), 400, "InvalidRequest", shutdown=True),
    Wire("truncated-chunked-body", _head("POST " + SESSION + " HTTP/1.1", JSON, "Transfer-Encoding: chunked",
                                         body=b"10\r\n{\"identifier\":"), 400, "InvalidRequest", shutdown=True),
    # paths and queries the router sees
    Wire("nul-in-method-name", _head("GET /xrpc/com.atproto.sync.getRepo%00?did=x HTTP/1.1", "Connection: close"),
         400, "InvalidRequest"),
    Wire("bad-percent-escape-in-query", _head("GET /xrpc/com.atproto.sync.getLatestCommit?did=%zz HTTP/1.1",
                                              "Connection: close"), 400, "InvalidRequest"),
    Wire("non-utf8-percent-bytes-in-query", _head("GET /xrpc/com.atproto.sync.getLatestCommit?did=%ff%fe HTTP/1.1",
                                                  "Connection: close"), 400, "InvalidRequest"),
    Wire("dot-segments-in-xrpc-path", _head("GET /xrpc/../xrpc/_health/.. HTTP/1.1", "Connection: close"),
         404, "NotFound"),
]


def _address(server):
    parts = urlsplit(server.url)
    return parts.hostname, parts.port


def exchange(server, data, shutdown=False, seconds=ANSWER_SECONDS, pieces=None, delay=0.0):
    """Writes `data` (or `pieces` with `delay` between them), reads until the server closes or
    `seconds` pass. Returns (raw answer, closed-by-server)."""
    with socket.create_connection(_address(server), timeout=seconds) as sock:
        try:
            if pieces is None:
                sock.sendall(data)
            else:
                for piece in pieces:
                    sock.sendall(piece)
                    time.sleep(delay)
            if shutdown:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before it read everything (oversize input)
        answer = b""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return answer, False
            except OSError:
                return answer, True   # reset after the answer: closed
            if not chunk:
                return answer, True
            answer += chunk
        return answer, False


def parse_response(raw):
    """(status, headers, body) of the first response in `raw`."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    return status, headers, rest[:length]


def test_enough_wire_cases():
    assert len(WIRE_CASES) >= 30
    assert len({case.name for case in WIRE_CASES}) == len(WIRE_CASES)


@pytest.mark.parametrize("case", WIRE_CASES, ids=[case.name for case in WIRE_CASES])
def test_malformed_http(server, case):
    started = time.monotonic()
    raw, closed = exchange(server, case.data, shutdown=case.shutdown)
    assert raw.startswith(b"HTTP/1.1 "), f"no HTTP answer in {ANSWER_SECONDS} s: {raw[:200]!r}"
    status, headers, body = parse_response(raw)
    assert status == case.status, f"expected {case.status}, got {status}: {raw[:300]!r}"
    if case.error:
        assert headers.get("content-type", "").startswith("application/json"), headers
        error = json.loads(body)
        assert error["error"] == case.error and error["message"], error
    if case.status in (400, 431) and case.error and "connection: close" in raw[:2000].decode("latin-1").lower():
        assert closed, "the server said Connection: close but kept the connection open"
    if not case.shutdown and status in (400, 431) and b"Connection: close" in raw:
        assert closed and time.monotonic() - started < ANSWER_SECONDS
    assert server.healthy(), f"server unhealthy after {case.name}"


def test_a_parse_error_after_a_good_request_closes_the_connection(server):
    raw, closed = exchange(server, b"GET /xrpc/_health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n")
    first = parse_response(raw)
    assert first[0] == 200
    assert b"HTTP/1.1 400" in raw[raw.index(b"\r\n\r\n"):], raw
    assert closed
    assert server.healthy()


def test_pipelined_requests_are_answered_in_order(server):
    request = b"GET /xrpc/_health HTTP/1.1\r\nHost: x\r\n\r\n"
    raw, _ = exchange(server, request * 2 + b"GET /robots.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.count(b"HTTP/1.1 200") == 3, raw[:500]
    assert raw.rstrip().endswith(b"Allow: /"), raw[-200:]


def test_slow_headers_and_slow_body_are_served(server, did, token):
    body = json.dumps({"repo": did, "collection": "com.example.interop.slow",
                       "record": {"$type": "com.example.interop.slow", "text": "dribbled"}}).encode()
    data = _head("POST /xrpc/com.atproto.repo.createRecord HTTP/1.1", JSON, f"Authorization: Bearer {token}",
                 f"Content-Length: {len(body)}", "Connection: close", body=body)
    pieces = [data[i:i + 7] for i in range(0, len(data), 7)]
    raw, closed = exchange(server, None, pieces=pieces, delay=0.003, seconds=30)
    status, _, answer = parse_response(raw)
    assert status == 200, raw[:500]
    uri = json.loads(answer)["uri"]
    rkey = uri.rsplit("/", 1)[-1]
    fetched = server.get("com.atproto.repo.getRecord", {"repo": did, "collection": "com.example.interop.slow",
                                                          "rkey": rkey})
    assert fetched.json()["value"]["text"] == "dribbled"


def test_stalled_connections_do_not_block_others(server, did):
    """Half-sent request lines, headers and bodies hold a connection each; the server keeps serving."""
    host, port = _address(server)
    stalled = []
    partials = [b"GET /xrpc/_he", b"GET /xrpc/_health HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                _head("POST " + SESSION + " HTTP/1.1", JSON, "Content-Length: 1000", body=b'{"identifier": "')]
    try:
        for i in range(30):
            sock = socket.create_connection((host, port), timeout=5)
            sock.sendall(partials[i % len(partials)])
            stalled.append(sock)
        for _ in range(5):
            started = time.monotonic()
            assert server.healthy()
            response = server.get("com.atproto.repo.describeRepo", {"repo": did})
            assert response.status_code == 200
            assert time.monotonic() - started < 2, "a stalled connection delayed another client"
    finally:
        for sock in stalled:
            sock.close()
    assert server.healthy()


def test_early_answer_to_expect_continue_is_not_held_back(server, token):
    """A client that waits for 100 Continue gets the 413 at once, even with Connection: close."""
    data = _head("POST /xrpc/com.atproto.repo.uploadBlob HTTP/1.1", "Content-Type: image/png",
                 f"Authorization: Bearer {token}", "Content-Length: 50000000", "Expect: 100-continue",
                 "Connection: close")
    started = time.monotonic()
    raw, _ = exchange(server, data, seconds=10)
    assert raw.startswith(b"HTTP/1.1 413"), raw[:200]
    assert time.monotonic() - started < 3
    assert server.healthy()


def test_chunked_upload_past_the_limit_is_refused(server, token, blob_limit):
    def chunks():
        sent = 0
        while sent <= blob_limit + 65536:
            yield b"\0" * 65536
            sent += 65536
    response = server.http.post(server.xrpc_url("com.atproto.repo.uploadBlob"), data=chunks(), timeout=60,
                                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"})
    assert response.status_code == 413 and response.json()["error"] == "PayloadTooLarge", response.text[:300]
    assert server.healthy()


def test_truncated_upload_leaves_the_server_serving(server, token):
    data = _head("POST /xrpc/com.atproto.repo.uploadBlob HTTP/1.1", "Content-Type: image/png",
                 f"Authorization: Bearer {token}", "Content-Length: 300000", body=b"\x89PNG" + b"\0" * 100_000)
    raw, _ = exchange(server, data, shutdown=True)
    if raw:
        assert parse_response(raw)[0] == 400, raw[:300]
    response = server.post("com.atproto.repo.uploadBlob", data=b"after the cut", token=token,
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text

"""Malformed requests get the protocol's error status and `{"error", "message"}` body, and the server
stays up.

Each case is sent with plain `requests`, with a valid access token unless it says otherwise.
"""

import json
from dataclasses import dataclass, field

import pytest

from conftest import assert_xrpc_error

CREATE = "com.atproto.repo.createRecord"
PUT = "com.atproto.repo.putRecord"
DELETE = "com.atproto.repo.deleteRecord"
APPLY = "com.atproto.repo.applyWrites"
GET = "com.atproto.repo.getRecord"
LIST = "com.atproto.repo.listRecords"
DESCRIBE = "com.atproto.repo.describeRepo"

DID = "<did>"  # replaced by the account's DID when the request is sent
POST_RECORD = {"text": "hi", "createdAt": "2026-01-01T00:00:00.000Z"}
A_CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"


@dataclass
class Case:
    name: str
    nsid: str
    status: int
    error: str
    method: str = "POST"
    json: object = None          # sent as an application/json body
    data: bytes = None           # sent raw, with `headers`
    params: dict = None
    headers: dict = field(default_factory=dict)
    auth: bool = True


def create(**fields):
    return {"repo": DID, "collection": "app.bsky.feed.post", "record": POST_RECORD, **fields}


def without(body, key):
    return {k: v for k, v in body.items() if k != key}


def big_record(total_bytes):
    return create(record={"text": "x" * total_bytes, "createdAt": "2026-01-01T00:00:00.000Z"})


CASES = [
    # bodies that are not what the method takes
    Case("invalid-json", CREATE, 400, "InvalidRequest", data=b'{"repo": ', headers={"Content-Type": "application/json"}),
    Case("json-array-body", CREATE, 400, "InvalidRequest", json=[create()]),
    Case("json-string-body", CREATE, 400, "InvalidRequest", json="record"),
    Case("empty-body", CREATE, 400, "InvalidRequest", data=b"", headers={"Content-Type": "application/json"}),
    Case("no-content-type", CREATE, 400, "InvalidRequest", data=json.dumps(create()).encode()),
    Case("text-plain-content-type", CREATE, 400, "InvalidRequest", data=json.dumps(create()).encode(),
         headers={"Content-Type": "text/plain"}),
    Case("form-content-type", CREATE, 400, "InvalidRequest", data=b"repo=x&collection=y",
         headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Case("trailing-garbage-json", CREATE, 400, "InvalidRequest", data=json.dumps(create()).encode() + b" }",
         headers={"Content-Type": "application/json"}),
    Case("invalid-utf8-json", CREATE, 400, "InvalidRequest", data=b'{"repo": "\xff\xfe"}',
         headers={"Content-Type": "application/json"}),
    # missing fields and wrong types
    Case("missing-repo", CREATE, 400, "InvalidRequest", json=without(create(), "repo")),
    Case("missing-collection", CREATE, 400, "InvalidRequest", json=without(create(), "collection")),
    Case("missing-record", CREATE, 400, "InvalidRequest", json=without(create(), "record")),
    Case("collection-is-number", CREATE, 400, "InvalidRequest", json=create(collection=42)),
    Case("repo-is-null", CREATE, 400, "InvalidRequest", json=create(repo=None)),
    Case("rkey-is-number", CREATE, 400, "InvalidRequest", json=create(rkey=7)),
    Case("validate-is-string", CREATE, 400, "InvalidRequest", json=create(validate="yes")),
    Case("put-missing-rkey", PUT, 400, "InvalidRequest", json=create()),
    Case("delete-missing-collection", DELETE, 400, "InvalidRequest", json={"repo": DID, "rkey": "abc"}),
    # bad identifiers
    Case("collection-not-nsid", CREATE, 400, "InvalidRequest", json=create(collection="not an nsid")),
    Case("collection-one-segment", CREATE, 400, "InvalidRequest", json=create(collection="post")),
    Case("collection-at-uri", CREATE, 400, "InvalidRequest",
         json=create(collection="at://did:plc:abc/app.bsky.feed.post")),
    Case("rkey-with-slash", PUT, 400, "InvalidRequest", json=create(rkey="a/b")),
    Case("rkey-dot", PUT, 400, "InvalidRequest", json=create(rkey=".")),
    Case("rkey-dotdot", PUT, 400, "InvalidRequest", json=create(rkey="..")),
    Case("rkey-too-long", PUT, 400, "InvalidRequest", json=create(rkey="a" * 513)),
    Case("rkey-with-space", CREATE, 400, "InvalidRequest", json=create(rkey="a b")),
    Case("delete-rkey-empty", DELETE, 400, "InvalidRequest",
         json={"repo": DID, "collection": "app.bsky.feed.post", "rkey": ""}),
    Case("repo-is-at-uri", CREATE, 400, "InvalidRequest", json=create(repo="at://did:plc:abc/app.bsky.feed.post/x")),
    # records the data model forbids
    Case("record-is-array", CREATE, 400, "InvalidRequest", json=create(record=[POST_RECORD])),
    Case("record-is-string", CREATE, 400, "InvalidRequest", json=create(record="hello")),
    Case("record-is-null", CREATE, 400, "InvalidRequest", json=create(record=None)),
    Case("record-with-float", CREATE, 400, "InvalidRequest", json=create(record=dict(POST_RECORD, score=1.5))),
    Case("record-with-nested-float", CREATE, 400, "InvalidRequest",
         json=create(record=dict(POST_RECORD, facets=[{"index": {"byteStart": 0.5}}]))),
    Case("type-mismatch", CREATE, 400, "InvalidRequest",
         json=create(record=dict(POST_RECORD, **{"$type": "app.bsky.feed.like"}))),
    Case("type-not-string", CREATE, 400, "InvalidRequest", json=create(record=dict(POST_RECORD, **{"$type": 5}))),
    Case("bad-bytes-object", CREATE, 400, "InvalidRequest",
         json=create(record=dict(POST_RECORD, data={"$bytes": "not base64!"}))),
    Case("bad-link-object", CREATE, 400, "InvalidRequest",
         json=create(record=dict(POST_RECORD, ref={"$link": "not-a-cid"}))),
    # swaps that are not CIDs
    Case("swap-record-not-cid", PUT, 400, "InvalidRequest", json=create(rkey="self", swapRecord="not-a-cid")),
    Case("swap-record-number", DELETE, 400, "InvalidRequest",
         json={"repo": DID, "collection": "app.bsky.feed.post", "rkey": "x", "swapRecord": 12}),
    Case("swap-commit-not-cid", CREATE, 400, "InvalidRequest", json=create(swapCommit="bafy-nope")),
    Case("swap-commit-truncated-cid", CREATE, 400, "InvalidRequest", json=create(swapCommit=A_CID[:-5])),
    # applyWrites
    Case("writes-not-array", APPLY, 400, "InvalidRequest", json={"repo": DID, "writes": {"a": 1}}),
    Case("writes-missing", APPLY, 400, "InvalidRequest", json={"repo": DID}),
    Case("write-unknown-type", APPLY, 400, "InvalidRequest", json={"repo": DID, "writes": [
        {"$type": "com.atproto.repo.applyWrites#upsert", "collection": "app.bsky.feed.post", "value": POST_RECORD}]}),
    Case("write-not-object", APPLY, 400, "InvalidRequest", json={"repo": DID, "writes": ["create"]}),
    Case("too-many-writes", APPLY, 400, "InvalidRequest", json={"repo": DID, "writes": [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.interop.many", "value": {"i": i}}
        for i in range(201)]}),
    # sizes: 1,000,000 B for record writes, 150 KiB for other JSON bodies
    Case("record-body-over-1mb", CREATE, 413, "PayloadTooLarge", json=big_record(1_000_100)),
    Case("apply-writes-body-over-1mb", APPLY, 413, "PayloadTooLarge", json={"repo": DID, "writes": [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.interop.big",
         "value": {"blob": "y" * 1_000_100}}]}),
    Case("delete-body-over-150kib", DELETE, 413, "PayloadTooLarge",
         json={"repo": DID, "collection": "app.bsky.feed.post", "rkey": "x", "pad": "z" * 160_000}),
    Case("session-body-over-150kib", "com.atproto.server.createSession", 413, "PayloadTooLarge",
         json={"identifier": "alice.test", "password": "p" * 160_000}, auth=False),
    # methods
    Case("get-on-procedure", CREATE, 400, "InvalidRequest", method="GET"),
    Case("post-on-query", GET, 400, "InvalidRequest", json={"repo": DID}),
    Case("put-on-xrpc", CREATE, 400, "InvalidRequest", method="PUT", json=create()),
    Case("delete-on-xrpc", GET, 400, "InvalidRequest", method="DELETE"),
    Case("unknown-nsid-get", "com.example.interop.doesNotExist", 501, "MethodNotImplemented", method="GET"),
    Case("unknown-nsid-post", "com.example.interop.doesNotExist", 501, "MethodNotImplemented", json={}),
    Case("invalid-nsid-in-path", "not_an_nsid", 400, "InvalidRequest", method="GET"),
    # query parameters
    Case("get-record-missing-rkey", GET, 400, "InvalidRequest", method="GET",
         params={"repo": DID, "collection": "app.bsky.feed.post"}),
    Case("get-record-unknown", GET, 400, "RecordNotFound", method="GET",
         params={"repo": DID, "collection": "app.bsky.feed.post", "rkey": "doesnotexist"}),
    Case("get-record-bad-collection", GET, 400, "InvalidRequest", method="GET",
         params={"repo": DID, "collection": "not an nsid", "rkey": "abc"}),
    Case("list-limit-zero", LIST, 400, "InvalidRequest", method="GET",
         params={"repo": DID, "collection": "app.bsky.feed.post", "limit": "0"}),
    Case("list-limit-over-100", LIST, 400, "InvalidRequest", method="GET",
         params={"repo": DID, "collection": "app.bsky.feed.post", "limit": "101"}),
    Case("list-limit-not-integer", LIST, 400, "InvalidRequest", method="GET",
         params={"repo": DID, "collection": "app.bsky.feed.post", "limit": "ten"}),
    Case("list-limit-negative", LIST, 400, "InvalidRequest", method="GET",
         params={"repo": DID, "collection": "app.bsky.feed.post", "limit": "-1"}),
    Case("list-reverse-not-boolean", LIST, 400, "InvalidRequest", method="GET",
         params={"repo": DID, "collection": "app.bsky.feed.post", "reverse": "maybe"}),
    Case("list-bad-collection", LIST, 400, "InvalidRequest", method="GET",
         params={"repo": DID, "collection": "app..bsky"}),
    Case("describe-repo-missing-param", DESCRIBE, 400, "InvalidRequest", method="GET", params={}),
    Case("describe-repo-unknown-did", DESCRIBE, 400, "RepoNotFound", method="GET",
         params={"repo": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}),
    Case("sync-get-record-bad-rkey", "com.atproto.sync.getRecord", 400, "InvalidRequest", method="GET",
         params={"did": DID, "collection": "app.bsky.feed.post", "rkey": "a/b"}),
    Case("sync-get-blocks-bad-cid", "com.atproto.sync.getBlocks", 400, "InvalidRequest", method="GET",
         params={"did": DID, "cids": "not-a-cid"}),
    Case("sync-get-repo-bad-since", "com.atproto.sync.getRepo", 400, "InvalidRequest", method="GET",
         params={"did": DID, "since": "yesterday"}),
    # auth
    Case("write-without-token", CREATE, 401, "AuthMissing", json=create(), auth=False),
    Case("create-session-missing-password", "com.atproto.server.createSession", 400, "InvalidRequest",
         json={"identifier": "alice.test"}, auth=False),
    Case("create-session-password-not-string", "com.atproto.server.createSession", 400, "InvalidRequest",
         json={"identifier": "alice.test", "password": 1234}, auth=False),
]


def _fill(value, did):
    if value == DID:
        return did
    if isinstance(value, dict):
        return {k: _fill(v, did) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, did) for v in value]
    return value


def send(server, case, did, token):
    headers = dict(case.headers)
    if case.auth:
        headers["Authorization"] = f"Bearer {token}"
    kwargs = {"headers": headers, "params": _fill(case.params, did), "timeout": 60}
    if case.json is not None:
        kwargs["json"] = _fill(case.json, did)
    elif case.data is not None:
        kwargs["data"] = case.data
    return server.http.request(case.method, server.xrpc_url(case.nsid), **kwargs)


def test_enough_cases():
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed_request(server, did, token, case):
    response = send(server, case, did, token)
    assert_xrpc_error(response, case.status, case.error)
    # Errors carry CORS headers like every response.
    assert response.headers.get("Access-Control-Allow-Origin") == "*"


def test_refused_writes_left_the_repo_unchanged(server, did, token):
    before = server.get("com.atproto.sync.getLatestCommit", {"did": did}).json()
    for case in CASES:
        if case.nsid in (CREATE, PUT, DELETE, APPLY):
            send(server, case, did, token)
    after = server.get("com.atproto.sync.getLatestCommit", {"did": did}).json()
    assert after == before


def test_bogus_cursor_is_harmless(server, did):
    for cursor in ["", "zzzz", "\u00e9\u00e9", "' OR 1=1 --"]:
        response = server.get(LIST, {"repo": did, "collection": "app.bsky.feed.post", "cursor": cursor})
        assert response.status_code == 200, (cursor, response.text)
        assert isinstance(response.json()["records"], list)


def test_unknown_routes_outside_xrpc(server):
    response = server.http.get(f"{server.url}/no/such/page", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


def test_cors_preflight(server):
    response = server.http.options(server.xrpc_url(CREATE), headers={
        "Origin": "https://bsky.app", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,atproto-proxy"}, timeout=10)
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_basic_routes(server):
    root = server.http.get(server.url + "/", timeout=10)
    assert root.status_code == 200 and "AT Protocol Personal Data Server" in root.text
    robots = server.http.get(server.url + "/robots.txt", timeout=10)
    assert robots.status_code == 200 and "User-agent: *" in robots.text


def test_server_still_healthy_after_malformed_requests(server, did, token):
    for case in CASES:
        send(server, case, did, token)
    assert server.healthy()
    assert server.get("com.atproto.server.getSession", token=token).status_code == 200


def _early_answer(server, path, headers, size):
    """Sends headers and a `size`-byte body the way urllib does (the whole body before reading),
    with `Connection: close`, and returns what comes back (or the exception)."""
    import socket
    from urllib.parse import urlsplit
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {size}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            sock.sendall(head.encode() + b"x" * size)
            return sock.recv(200)
        except OSError as error:
            return error


@pytest.mark.parametrize("size", [200_000, 6_000_000])
def test_an_early_refusal_does_not_stall_a_client_that_sends_its_whole_body(server, token, size):
    # 401 before the body is read; a client that asked to close still gets its answer.
    answer = _early_answer(server, "/xrpc/com.atproto.repo.uploadBlob", {"Content-Type": "image/png"}, size)
    assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 401"), answer
    # 413 past the record body limit, with valid credentials.
    answer = _early_answer(server, "/xrpc/com.atproto.repo.createRecord",
                           {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}, size + 1_000_000)
    assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 413"), answer


def test_an_early_refusal_with_a_huge_body_closes_instead_of_hanging(server):
    # Past the drain bound the server closes the connection: the client fails at once, not at its timeout.
    import time
    started = time.monotonic()
    answer = _early_answer(server, "/xrpc/com.atproto.repo.uploadBlob", {"Content-Type": "image/png"}, 64_000_000)
    assert time.monotonic() - started < 5
    assert isinstance(answer, (bytes, OSError))
    assert server.healthy()

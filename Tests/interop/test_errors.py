"""Malformed requests get the protocol's error status and `{"error", "message"}` body, and the server
stays up.

Each case is sent with plain `requests`, with a valid access token unless it says otherwise.
"""

import base64
import json
from dataclasses import dataclass, field

import pytest

from conftest import INVALID_TOKEN_STATUS, assert_xrpc_error

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

# --- the corpus, grown table by table (issue 11, point 5) -----------------------------------------

QUERIES = [
    "com.atproto.server.describeServer", "com.atproto.server.getSession", "com.atproto.server.getServiceAuth",
    "com.atproto.server.listAppPasswords", "com.atproto.repo.listRecords", "com.atproto.repo.describeRepo",
    "com.atproto.sync.getLatestCommit", "com.atproto.sync.getRepoStatus", "com.atproto.sync.listRepos",
    "com.atproto.sync.getRecord", "com.atproto.sync.getBlocks", "com.atproto.sync.getRepo",
    "com.atproto.sync.listBlobs", "com.atproto.sync.getBlob", "com.atproto.identity.resolveHandle",
    "com.atproto.identity.getRecommendedDidCredentials", "app.bsky.actor.getPreferences",
    "app.bsky.actor.getProfiles", "app.bsky.feed.getFeed",
]
PROCEDURES = [
    "com.atproto.server.createSession", "com.atproto.server.refreshSession", "com.atproto.server.deleteSession",
    "com.atproto.server.createAppPassword", "com.atproto.server.revokeAppPassword", PUT, DELETE, APPLY,
    "com.atproto.repo.uploadBlob", "com.atproto.identity.updateHandle",
    "com.atproto.identity.requestPlcOperationSignature", "com.atproto.identity.signPlcOperation",
    "com.atproto.identity.submitPlcOperation", "app.bsky.actor.putPreferences",
]
# Procedures whose input is a JSON object, with a body that would otherwise get past the encoding check.
JSON_PROCEDURES = {
    "com.atproto.server.createSession": {"identifier": "alice.test", "password": "x"},
    "com.atproto.server.createAppPassword": {"name": "n"},
    "com.atproto.server.revokeAppPassword": {"name": "n"},
    PUT: create(rkey="self"),
    DELETE: {"repo": DID, "collection": "app.bsky.feed.post", "rkey": "x"},
    APPLY: {"repo": DID, "writes": []},
    "com.atproto.identity.updateHandle": {"handle": "alice.test"},
    "com.atproto.identity.signPlcOperation": {"token": "x"},
    "com.atproto.identity.submitPlcOperation": {"operation": {}},
    "app.bsky.actor.putPreferences": {"preferences": []},
}


def short(nsid):
    return nsid.rsplit(".", 1)[-1]


def json_bytes(value):
    return json.dumps(value).encode()


# Wrong methods on every method this server implements (the reference: 400 "Incorrect HTTP method").
CASES += [Case(f"post-on-{short(n)}", n, 400, "InvalidRequest", json={}) for n in QUERIES]
CASES += [Case(f"get-on-{short(n)}", n, 400, "InvalidRequest", method="GET") for n in PROCEDURES]
CASES += [
    Case("patch-on-xrpc", CREATE, 400, "InvalidRequest", method="PATCH", json=create()),
    Case("put-on-query", LIST, 400, "InvalidRequest", method="PUT"),
    Case("delete-on-procedure", APPLY, 400, "InvalidRequest", method="DELETE"),
    # importRepo is for an account moving here (deactivated); the suite's account is active.
    Case("import-repo-on-an-active-account", "com.atproto.repo.importRepo", 400, "InvalidRequest",
         data=b"\x3a\xa2eroots\x80gversion\x01", headers={"Content-Type": "application/vnd.ipld.car"}),
    Case("import-repo-json-body", "com.atproto.repo.importRepo", 400, "InvalidRequest", json={}),
]

# Encodings: every JSON procedure refuses a body without a Content-Type, in text/plain, CBOR or a CAR.
for nsid, body in JSON_PROCEDURES.items():
    CASES += [
        Case(f"{short(nsid)}-no-content-type", nsid, 400, "InvalidRequest", data=json_bytes(body)),
        Case(f"{short(nsid)}-text-plain", nsid, 400, "InvalidRequest", data=json_bytes(body),
             headers={"Content-Type": "text/plain"}),
        Case(f"{short(nsid)}-cbor-body", nsid, 400, "InvalidRequest", data=b"\xa1aa\x01",
             headers={"Content-Type": "application/cbor"}),
    ]
CASES += [
    Case("apply-writes-car-body", APPLY, 400, "InvalidRequest", data=b"\x0a\xa1eroots\x80",
         headers={"Content-Type": "application/vnd.ipld.car"}),
    Case("create-record-multipart", CREATE, 400, "InvalidRequest", data=b"--x\r\n\r\n{}\r\n--x--",
         headers={"Content-Type": "multipart/form-data; boundary=x"}),
    Case("create-record-json-suffix-type", CREATE, 400, "InvalidRequest", data=json_bytes(create()),
         headers={"Content-Type": "application/jsonx"}),
    # Compressed bodies are refused, not parsed (or stored) compressed: 415 as the reference answers
    # an encoding it cannot decode.
    Case("session-gzip-body", "com.atproto.server.createSession", 415, "UnsupportedMediaType",
         data=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00C\xbf\xa6\xa3\x02\x00\x00\x00",
         headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, auth=False),
    Case("create-record-zstd-body", CREATE, 415, "UnsupportedMediaType", data=json_bytes(create()),
         headers={"Content-Type": "application/json", "Content-Encoding": "zstd"}),
    Case("upload-blob-gzip-body", "com.atproto.repo.uploadBlob", 415, "UnsupportedMediaType",
         data=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00",
         headers={"Content-Type": "image/png", "Content-Encoding": "gzip"}),
    Case("put-prefs-deflate-body", "app.bsky.actor.putPreferences", 415, "UnsupportedMediaType",
         data=json_bytes({"preferences": []}), headers={"Content-Type": "application/json",
                                                        "Content-Encoding": "deflate, identity"}),
]

# JSON the strict parser refuses (RFC 8259), on a route without auth and one with.
BAD_JSON = {
    "nan": b'{"identifier": NaN, "password": "x"}',
    "infinity": b'{"identifier": "a", "password": Infinity}',
    "single-quotes": b"{'identifier': 'a', 'password': 'x'}",
    "comment": b'{"identifier": "a", /* c */ "password": "x"}',
    "trailing-comma": b'{"identifier": "a", "password": "x",}',
    "leading-zero": b'{"identifier": "a", "password": "x", "n": 01}',
    "control-char": b'{"identifier": "a\x01", "password": "x"}',
    "lone-surrogate": b'{"identifier": "\\ud800", "password": "x"}',
    "bad-escape": b'{"identifier": "\\x41", "password": "x"}',
    "unterminated-string": b'{"identifier": "a',
    "bare-word": b"identifier",
    "utf16-body": '{"identifier": "a", "password": "x"}'.encode("utf-16"),
    "deep-array": b"[" * 70_000 + b"]" * 70_000,
    "deep-object": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
}
for name, data in BAD_JSON.items():
    CASES.append(Case(f"json-{name}", "com.atproto.server.createSession", 400, "InvalidRequest", data=data,
                      headers={"Content-Type": "application/json"}, auth=False))
CASES += [
    Case("record-deeply-nested", CREATE, 400, "InvalidRequest",
         data=json_bytes(create()).replace(b'"text": "hi"', b'"text": "hi", "deep": ' + b"[" * 20_000 + b"]" * 20_000),
         headers={"Content-Type": "application/json"}),
    Case("apply-writes-deep-json", APPLY, 400, "InvalidRequest", data=b'{"writes":' + b"[" * 60_000 + b"]" * 60_000 + b"}",
         headers={"Content-Type": "application/json"}),
    Case("prefs-not-array", "app.bsky.actor.putPreferences", 400, "InvalidRequest", json={"preferences": {}}),
    Case("prefs-item-not-object", "app.bsky.actor.putPreferences", 400, "InvalidRequest", json={"preferences": [1]}),
    Case("prefs-missing-type", "app.bsky.actor.putPreferences", 400, "InvalidRequest", json={"preferences": [{}]}),
    Case("prefs-foreign-namespace", "app.bsky.actor.putPreferences", 400, "InvalidRequest",
         json={"preferences": [{"$type": "com.example.pref"}]}),
    Case("prefs-float-value", "app.bsky.actor.putPreferences", 400, "InvalidRequest",
         json={"preferences": [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": 1.5}]}),
    Case("update-handle-invalid", "com.atproto.identity.updateHandle", 400, "InvalidRequest",
         json={"handle": "not a handle"}),
    Case("update-handle-number", "com.atproto.identity.updateHandle", 400, "InvalidRequest", json={"handle": 5}),
    Case("submit-plc-op-missing", "com.atproto.identity.submitPlcOperation", 400, "InvalidRequest", json={}),
    Case("submit-plc-op-garbage", "com.atproto.identity.submitPlcOperation", 400, "InvalidRequest",
         json={"operation": {"type": "plc_operation"}}),
    Case("sign-plc-op-missing-token", "com.atproto.identity.signPlcOperation", 400, "InvalidRequest", json={}),
    Case("sign-plc-op-rotation-keys-not-array", "com.atproto.identity.signPlcOperation", 400, "InvalidRequest",
         json={"token": "x", "rotationKeys": "did:key:z"}),
    Case("app-password-missing-name", "com.atproto.server.createAppPassword", 400, "InvalidRequest", json={}),
    Case("app-password-name-too-long", "com.atproto.server.createAppPassword", 400, "InvalidRequest",
         json={"name": "n" * 300}),
    Case("app-password-privileged-string", "com.atproto.server.createAppPassword", 400, "InvalidRequest",
         json={"name": "n", "privileged": "yes"}),
    Case("revoke-app-password-missing-name", "com.atproto.server.revokeAppPassword", 400, "InvalidRequest", json={}),
    Case("session-identifier-too-long", "com.atproto.server.createSession", 400, "InvalidRequest",
         json={"identifier": "a" * 9000, "password": "x"}, auth=False),
    Case("session-password-over-512", "com.atproto.server.createSession", 400, "InvalidRequest",
         json={"identifier": "alice.test", "password": "p" * 600}, auth=False),
    Case("apply-writes-missing-type", APPLY, 400, "InvalidRequest",
         json={"repo": DID, "writes": [{"collection": "app.bsky.feed.post", "value": POST_RECORD}]}),
    Case("apply-writes-update-missing-rkey", APPLY, 400, "InvalidRequest", json={"repo": DID, "writes": [
        {"$type": "com.atproto.repo.applyWrites#update", "collection": "app.bsky.feed.post", "value": POST_RECORD}]}),
]

# Oversize JSON bodies: 150 KiB on most procedures, 1,000,000 B on record writes and preferences.
PAD = "z" * 160_000
CASES += [
    Case("app-password-body-over-150kib", "com.atproto.server.createAppPassword", 413, "PayloadTooLarge",
         json={"name": "n", "pad": PAD}),
    Case("revoke-app-password-body-over-150kib", "com.atproto.server.revokeAppPassword", 413, "PayloadTooLarge",
         json={"name": "n", "pad": PAD}),
    Case("update-handle-body-over-150kib", "com.atproto.identity.updateHandle", 413, "PayloadTooLarge",
         json={"handle": "alice.test", "pad": PAD}),
    Case("sign-plc-body-over-150kib", "com.atproto.identity.signPlcOperation", 413, "PayloadTooLarge",
         json={"token": "x", "pad": PAD}),
    Case("submit-plc-body-over-150kib", "com.atproto.identity.submitPlcOperation", 413, "PayloadTooLarge",
         json={"operation": {}, "pad": PAD}),
    Case("put-record-body-over-1mb", PUT, 413, "PayloadTooLarge", json=dict(big_record(1_000_100), rkey="big")),
    Case("put-prefs-body-over-1mb", "app.bsky.actor.putPreferences", 413, "PayloadTooLarge",
         json={"preferences": [], "pad": "z" * 1_000_100}),
    Case("session-declared-length-over-limit", "com.atproto.server.createSession", 413, "PayloadTooLarge",
         data=b"{" + b" " * 200_000 + b"}", headers={"Content-Type": "application/json"}, auth=False),
]

UNKNOWN_DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
# CIDv1 dag-cbor sha2-256 of a digest no block has (0x11 * 32).
UNKNOWN_CID = "b" + base64.b32encode(b"\x01\x71\x12\x20" + b"\x11" * 32).decode().lower().rstrip("=")
S = "com.atproto.sync."


def q(name, nsid, status, error, params, **kwargs):
    return Case(name, nsid, status, error, method="GET", params=params, **kwargs)


# Query parameters of every GET: missing, malformed (Lexicon formats), out of range, unknown.
CASES += [
    q("latest-commit-missing-did", S + "getLatestCommit", 400, "InvalidRequest", {}),
    q("latest-commit-did-malformed", S + "getLatestCommit", 400, "InvalidRequest", {"did": "alice"}),
    q("latest-commit-did-is-handle", S + "getLatestCommit", 400, "InvalidRequest", {"did": "alice.test"}),
    q("latest-commit-did-percent-garbage", S + "getLatestCommit", 400, "InvalidRequest", {"did": "did:plc:\u00ff\u00fe"}),
    q("latest-commit-unknown-did", S + "getLatestCommit", 400, "RepoNotFound", {"did": UNKNOWN_DID}),
    q("repo-status-missing-did", S + "getRepoStatus", 400, "InvalidRequest", {}),
    q("repo-status-handle", S + "getRepoStatus", 400, "InvalidRequest", {"did": "alice.test"}),
    q("repo-status-unknown-did", S + "getRepoStatus", 400, "RepoNotFound", {"did": UNKNOWN_DID}),
    q("get-repo-missing-did", S + "getRepo", 400, "InvalidRequest", {}),
    q("get-repo-did-malformed", S + "getRepo", 400, "InvalidRequest", {"did": "did:"}),
    q("get-repo-unknown-did", S + "getRepo", 400, "RepoNotFound", {"did": UNKNOWN_DID}),
    q("get-repo-since-not-tid", S + "getRepo", 400, "InvalidRequest", {"did": DID, "since": "3l"}),
    q("sync-record-missing-did", S + "getRecord", 400, "InvalidRequest", {"collection": "app.bsky.feed.post", "rkey": "a"}),
    q("sync-record-missing-collection", S + "getRecord", 400, "InvalidRequest", {"did": DID, "rkey": "a"}),
    q("sync-record-missing-rkey", S + "getRecord", 400, "InvalidRequest", {"did": DID, "collection": "app.bsky.feed.post"}),
    q("sync-record-bad-collection", S + "getRecord", 400, "InvalidRequest", {"did": DID, "collection": "nope", "rkey": "a"}),
    q("sync-record-unknown", S + "getRecord", 400, "RecordNotFound",
      {"did": DID, "collection": "app.bsky.feed.post", "rkey": "doesnotexist"}),
    q("sync-record-unknown-did", S + "getRecord", 400, "RepoNotFound",
      {"did": UNKNOWN_DID, "collection": "app.bsky.feed.post", "rkey": "a"}),
    q("blocks-missing-did", S + "getBlocks", 400, "InvalidRequest", {"cids": A_CID}),
    q("blocks-missing-cids", S + "getBlocks", 400, "InvalidRequest", {"did": DID}),
    q("blocks-empty-cid", S + "getBlocks", 400, "InvalidRequest", {"did": DID, "cids": ""}),
    q("blocks-too-many-cids", S + "getBlocks", 400, "InvalidRequest", {"did": DID, "cids": [A_CID] * 1001}),
    q("blocks-unknown-cid", S + "getBlocks", 400, "BlockNotFound", {"did": DID, "cids": UNKNOWN_CID}),
    q("blocks-did-malformed", S + "getBlocks", 400, "InvalidRequest", {"did": "nope", "cids": A_CID}),
    q("list-blobs-missing-did", S + "listBlobs", 400, "InvalidRequest", {}),
    q("list-blobs-limit-zero", S + "listBlobs", 400, "InvalidRequest", {"did": DID, "limit": "0"}),
    q("list-blobs-limit-1001", S + "listBlobs", 400, "InvalidRequest", {"did": DID, "limit": "1001"}),
    q("list-blobs-limit-text", S + "listBlobs", 400, "InvalidRequest", {"did": DID, "limit": "many"}),
    q("list-blobs-limit-float", S + "listBlobs", 400, "InvalidRequest", {"did": DID, "limit": "1.5"}),
    q("list-blobs-since-bad", S + "listBlobs", 400, "InvalidRequest", {"did": DID, "since": "yesterday"}),
    q("list-blobs-unknown-did", S + "listBlobs", 400, "RepoNotFound", {"did": UNKNOWN_DID}),
    q("list-repos-limit-zero", S + "listRepos", 400, "InvalidRequest", {"limit": "0"}),
    q("list-repos-limit-1001", S + "listRepos", 400, "InvalidRequest", {"limit": "1001"}),
    q("list-repos-limit-huge", S + "listRepos", 400, "InvalidRequest", {"limit": "99999999999999999999999"}),
    q("get-blob-missing-did", S + "getBlob", 400, "InvalidRequest", {"cid": A_CID}),
    q("get-blob-missing-cid", S + "getBlob", 400, "InvalidRequest", {"did": DID}),
    q("get-blob-bad-cid", S + "getBlob", 400, "InvalidRequest", {"did": DID, "cid": "not-a-cid"}),
    q("get-blob-bad-did", S + "getBlob", 400, "InvalidRequest", {"did": "alice", "cid": A_CID}),
    q("get-blob-unknown-did", S + "getBlob", 400, "RepoNotFound", {"did": UNKNOWN_DID, "cid": A_CID}),
    q("get-blob-unknown-cid", S + "getBlob", 400, "BlobNotFound", {"did": DID, "cid": UNKNOWN_CID}),
    q("get-record-missing-repo", GET, 400, "InvalidRequest", {"collection": "app.bsky.feed.post", "rkey": "a"}),
    q("get-record-missing-collection", GET, 400, "InvalidRequest", {"repo": DID, "rkey": "a"}),
    q("get-record-bad-repo", GET, 400, "InvalidRequest", {"repo": "no such repo", "collection": "app.bsky.feed.post", "rkey": "a"}),
    q("get-record-unknown-repo", GET, 400, "RepoNotFound",
      {"repo": UNKNOWN_DID, "collection": "app.bsky.feed.post", "rkey": "a"}),
    q("get-record-bad-cid-param", GET, 400, "InvalidRequest",
      {"repo": DID, "collection": "app.bsky.feed.post", "rkey": "a", "cid": "nope"}),
    q("get-record-rkey-too-long", GET, 400, "InvalidRequest", {"repo": DID, "collection": "app.bsky.feed.post", "rkey": "a" * 600}),
    q("get-record-collection-too-long", GET, 400, "InvalidRequest",
      {"repo": DID, "collection": "a." * 200 + "b", "rkey": "a"}),
    q("list-missing-repo", LIST, 400, "InvalidRequest", {"collection": "app.bsky.feed.post"}),
    q("list-missing-collection", LIST, 400, "InvalidRequest", {"repo": DID}),
    q("list-unknown-repo", LIST, 400, "RepoNotFound", {"repo": UNKNOWN_DID, "collection": "app.bsky.feed.post"}),
    q("list-limit-huge", LIST, 400, "InvalidRequest", {"repo": DID, "collection": "app.bsky.feed.post", "limit": "1e3"}),
    q("describe-repo-bad-repo", DESCRIBE, 400, "InvalidRequest", {"repo": "not a did"}),
    q("describe-repo-empty", DESCRIBE, 400, "InvalidRequest", {"repo": ""}),
    q("resolve-handle-missing", "com.atproto.identity.resolveHandle", 400, "InvalidRequest", {}),
    q("resolve-handle-invalid", "com.atproto.identity.resolveHandle", 400, "InvalidRequest", {"handle": "not a handle"}),
    q("resolve-handle-leading-hyphen", "com.atproto.identity.resolveHandle", 400, "InvalidRequest", {"handle": "-bad.test"}),
    q("resolve-handle-too-long", "com.atproto.identity.resolveHandle", 400, "InvalidRequest",
      {"handle": ("a" * 60 + ".") * 5 + "test"}),
    q("resolve-handle-ip", "com.atproto.identity.resolveHandle", 400, "InvalidRequest", {"handle": "127.0.0.1"}),
    q("resolve-handle-did", "com.atproto.identity.resolveHandle", 400, "InvalidRequest", {"handle": UNKNOWN_DID}),
    q("service-auth-missing-aud", "com.atproto.server.getServiceAuth", 400, "InvalidRequest", {}),
    q("service-auth-aud-not-did", "com.atproto.server.getServiceAuth", 400, "InvalidRequest", {"aud": "example.com"}),
    q("service-auth-exp-text", "com.atproto.server.getServiceAuth", 400, "InvalidRequest",
      {"aud": UNKNOWN_DID, "exp": "soon"}),
    q("service-auth-exp-past", "com.atproto.server.getServiceAuth", 400, "BadExpiration",
      {"aud": UNKNOWN_DID, "exp": "1000", "lxm": "app.bsky.feed.getTimeline"}),
    q("service-auth-exp-far", "com.atproto.server.getServiceAuth", 400, "BadExpiration",
      {"aud": UNKNOWN_DID, "exp": "99999999999", "lxm": "app.bsky.feed.getTimeline"}),
    q("service-auth-lxm-invalid", "com.atproto.server.getServiceAuth", 400, "InvalidRequest",
      {"aud": UNKNOWN_DID, "lxm": "not an nsid"}),
    q("service-auth-lxm-protected", "com.atproto.server.getServiceAuth", 400, "InvalidRequest",
      {"aud": UNKNOWN_DID, "lxm": "com.atproto.server.getSession"}),
    q("subscribe-repos-without-upgrade", S + "subscribeRepos", 426, "InvalidRequest", {}, auth=False),
    q("subscribe-repos-bad-cursor", S + "subscribeRepos", 400, "InvalidRequest", {"cursor": "abc"}, auth=False),
    q("subscribe-repos-negative-cursor", S + "subscribeRepos", 400, "InvalidRequest", {"cursor": "-5"}, auth=False),
]

# Credentials that are not credentials.
BAD_AUTH = {
    "bearer-empty": "Bearer ",
    "bearer-garbage": "Bearer not-a-jwt",
    "bearer-three-dots": "Bearer a.b.c",
    "bearer-huge": "Bearer " + "a" * 16_000,
    "bearer-none-alg": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "bearer-lowercase-scheme-garbage": "bearer x.y.z",
}
for name, value in BAD_AUTH.items():
    CASES.append(Case(f"session-{name}", "com.atproto.server.getSession", INVALID_TOKEN_STATUS, "InvalidToken",
                      method="GET", headers={"Authorization": value}, auth=False))
CASES += [
    Case("session-basic-auth", "com.atproto.server.getSession", INVALID_TOKEN_STATUS, "InvalidToken", method="GET",
         headers={"Authorization": "Basic YWRtaW46eA=="}, auth=False),
    Case("upload-blob-without-token", "com.atproto.repo.uploadBlob", 401, "AuthMissing", data=b"bytes",
         headers={"Content-Type": "image/png"}, auth=False),
    Case("refresh-with-no-token", "com.atproto.server.refreshSession", 401, "AuthMissing", auth=False),
    Case("proxy-header-garbage", "app.bsky.feed.getTimeline", 400, "InvalidRequest", method="GET",
         headers={"atproto-proxy": "garbage"}),
    Case("proxy-header-no-fragment", "app.bsky.feed.getTimeline", 400, "InvalidRequest", method="GET",
         headers={"atproto-proxy": "did:web:api.bsky.app"}),
    Case("proxy-header-no-did", "app.bsky.feed.getTimeline", 400, "InvalidRequest", method="GET",
         headers={"atproto-proxy": "#bsky_appview"}),
    Case("proxy-header-empty-service", "app.bsky.feed.getTimeline", 400, "InvalidRequest", method="GET",
         headers={"atproto-proxy": "did:web:api.bsky.app#"}),
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
    assert len(CASES) >= 200
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed_request(server, did, token, case):
    response = send(server, case, did, token)
    assert_xrpc_error(response, case.status, case.error)
    # Errors carry CORS headers like every response.
    assert response.headers.get("Access-Control-Allow-Origin") == "*"
    assert server.healthy(), f"server unhealthy after {case.name}"


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

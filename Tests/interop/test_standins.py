"""Self-tests of the loopback stand-ins (Tests/interop/standins): no PDS needed.

The PLC stand-in replays the go-didplc audit logs in ../shared/vectors/extra/plc (valid ones accepted
op by op with identical CIDs and nullification flags, invalid ones rejected at their last op), the
service-JWT checker refuses forged, expired, misaddressed and replayed tokens, and the DNS stand-in
answers TXT queries from dnspython."""

import base64
import json
import os
import pathlib
import time

import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest
import requests

from standins import AppView, ChatService, DidResolver, DnsServer, PlcDirectory, Relay
from standins.common import (CURVES, K256, P256, CheckError, b64url_encode, did_key_for, make_service_jwt,
                             new_private_key, parse_did_key, sign_raw)
from standins.plc import did_for_genesis as make_did, make_genesis, op_cid, sign_operation

TIMEOUT = 10
SHARED = pathlib.Path(os.environ.get("PDS_SHARED_DIR") or pathlib.Path(__file__).resolve().parents[3] / "shared")
VECTORS = pathlib.Path(os.environ.get("PDS_INTEROP_PLC_VECTORS") or SHARED / "vectors" / "extra" / "plc")
# As in `swift test`: without the vectors these tests are skipped, unless CI=true or
# PDS_REQUIRE_VECTORS=1 makes their absence a failure.
REQUIRE_VECTORS = os.environ.get("CI") == "true" or os.environ.get("PDS_REQUIRE_VECTORS") == "1"

# The classification of vectors/extra/README.md ("plc/"): go-didplc testdata, the reference's view.
VALID_LOGS = {"bskyapp", "legacy_dholms", "bnewbold_robocracy", "empty_rotation_keys", "duplicate_rotation_keys",
              "nullification", "nullification_nontrivial", "nullification_at_exactly_72h", "nullified_tombstone",
              "tombstone"}
INVALID_LOGS = {"invalid_sig_b64_padding_chars", "invalid_sig_b64_padding_bits", "invalid_sig_b64_newline",
                "invalid_sig_der", "invalid_sig_k256_high_s", "invalid_sig_p256_high_s",
                "invalid_nullification_reused_key", "invalid_nullification_too_slow", "invalid_update_nullified",
                "invalid_update_tombstoned"}

http = requests.Session()
http.trust_env = False


def vector_logs():
    if not VECTORS.is_dir():
        message = f"PLC vectors folder {VECTORS} is missing (expected ../shared/vectors/extra/plc, or PDS_SHARED_DIR)"
        if REQUIRE_VECTORS:
            pytest.fail(message)
        pytest.skip(message)
    logs = {path.stem[len("log_"):]: path for path in sorted(VECTORS.glob("log_*.json"))}
    unknown = set(logs) - VALID_LOGS - INVALID_LOGS
    assert not unknown, f"unclassified PLC vectors in {VECTORS}: {sorted(unknown)}"
    missing = (VALID_LOGS | INVALID_LOGS) - set(logs)
    assert not missing, f"PLC vectors missing from {VECTORS}: {sorted(missing)}"
    return logs


def post_op(plc, did, op, now=None):
    headers = {"X-Standin-Now": now} if now else {}
    return http.post(f"{plc.url}/{did}", json=op, headers=headers, timeout=TIMEOUT)


def replay(plc, entries):
    return [post_op(plc, entry["did"], entry["operation"], entry["createdAt"]) for entry in entries]


@pytest.fixture()
def reference_plc():
    with PlcDirectory(strict=False, allow_time_override=True) as plc:
        yield plc


@pytest.fixture()
def plc():
    with PlcDirectory() as plc:
        yield plc


# --- PLC: the go-didplc audit logs -------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(VALID_LOGS))
def test_plc_accepts_valid_audit_log(reference_plc, name):
    entries = json.loads(vector_logs()[name].read_text())
    for entry, response in zip(entries, replay(reference_plc, entries)):
        assert response.status_code == 200, f"{name}: op {entry['cid']} refused: {response.text}"
    did = entries[0]["did"]
    audit = http.get(f"{reference_plc.url}/{did}/log/audit", timeout=TIMEOUT).json()
    assert [(e["cid"], e["nullified"], e["createdAt"]) for e in audit] == \
           [(e["cid"], e["nullified"], e["createdAt"]) for e in entries]
    assert [e["operation"] for e in audit] == [e["operation"] for e in entries]
    last = [e for e in entries if not e["nullified"]][-1]["operation"]
    assert http.get(f"{reference_plc.url}/{did}/log/last", timeout=TIMEOUT).json() == last
    document = http.get(f"{reference_plc.url}/{did}", timeout=TIMEOUT)
    assert document.status_code == (410 if last["type"] == "plc_tombstone" else 200), document.text
    assert reference_plc.failures == []


@pytest.mark.parametrize("name", sorted(INVALID_LOGS))
def test_plc_rejects_invalid_audit_log(reference_plc, name):
    entries = json.loads(vector_logs()[name].read_text())
    responses = replay(reference_plc, entries)
    for entry, response in zip(entries[:-1], responses[:-1]):
        assert response.status_code == 200, f"{name}: op {entry['cid']} before the bad one refused: {response.text}"
    assert responses[-1].status_code == 400, f"{name}: the invalid last op got {responses[-1].status_code}"
    assert responses[-1].json()["message"]
    assert len(reference_plc.failures) == 1, reference_plc.failures


def test_plc_vector_reasons(reference_plc):
    """The refusals name the right reason, not just any."""
    expected = {"invalid_sig_b64_padding_chars": "base64url", "invalid_sig_b64_padding_bits": "trailing bits",
                "invalid_sig_b64_newline": "base64url", "invalid_sig_der": "does not verify",
                "invalid_sig_k256_high_s": "high-S", "invalid_sig_p256_high_s": "high-S",
                "invalid_nullification_reused_key": "outranks", "invalid_nullification_too_slow": "72 h",
                "invalid_update_nullified": "nullified", "invalid_update_tombstoned": "tombstoned"}
    logs = vector_logs()
    for name, reason in expected.items():
        with PlcDirectory(strict=False, allow_time_override=True) as plc:
            message = replay(plc, json.loads(logs[name].read_text()))[-1].json()["message"]
        assert reason in message, f"{name}: {message!r} does not mention {reason!r}"


def test_plc_strict_mode_refuses_what_a_pds_must_not_publish():
    logs = vector_logs()
    for name in ("empty_rotation_keys", "duplicate_rotation_keys", "legacy_dholms"):
        with PlcDirectory(allow_time_override=True) as plc:
            responses = replay(plc, json.loads(logs[name].read_text()))
            assert any(r.status_code == 400 for r in responses), f"strict mode accepted {name}"
            assert plc.failures


# --- PLC: a PDS-style identity, strict mode ------------------------------------------------------

def identity(curve=K256, handle="bob.example.com", endpoint="http://127.0.0.1:1"):
    rotation, signing = new_private_key(curve), new_private_key(K256)
    did, op = make_genesis(rotation, signing, handle, endpoint)
    return did, op, rotation, signing


def update(prev_op, rotation, **changes):
    op = {key: value for key, value in prev_op.items() if key != "sig"}
    op.update(changes, prev=op_cid(prev_op))
    return sign_operation(op, rotation)


@pytest.mark.parametrize("curve", [K256, P256])
def test_plc_genesis_and_update(plc, curve):
    did, genesis, rotation, signing = identity(curve)
    response = post_op(plc, did, genesis)
    assert response.status_code == 200, response.text
    document = http.get(f"{plc.url}/{did}", timeout=TIMEOUT)
    assert document.status_code == 200
    assert document.headers["Content-Type"].startswith("application/did+ld+json")
    doc = document.json()
    assert doc["id"] == did and doc["alsoKnownAs"] == ["at://bob.example.com"]
    assert doc["verificationMethod"] == [{"id": f"{did}#atproto", "type": "Multikey", "controller": did,
                                          "publicKeyMultibase": did_key_for(signing)[len("did:key:"):]}]
    assert doc["service"] == [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                               "serviceEndpoint": "http://127.0.0.1:1"}]
    assert "https://www.w3.org/ns/did/v1" in doc["@context"]
    data = http.get(f"{plc.url}/{did}/data", timeout=TIMEOUT).json()
    assert data == {"did": did, "rotationKeys": [did_key_for(rotation)],
                    "verificationMethods": {"atproto": did_key_for(signing)},
                    "alsoKnownAs": ["at://bob.example.com"], "services": genesis["services"]}

    changed = update(genesis, rotation, alsoKnownAs=["at://robert.example.com"])
    assert post_op(plc, did, changed).status_code == 200
    assert http.get(f"{plc.url}/{did}/log/last", timeout=TIMEOUT).json() == changed
    audit = http.get(f"{plc.url}/{did}/log/audit", timeout=TIMEOUT).json()
    assert [e["cid"] for e in audit] == [op_cid(genesis), op_cid(changed)]
    assert all(set(e) == {"did", "operation", "cid", "nullified", "createdAt"} for e in audit)
    assert http.get(f"{plc.url}/{did}/log", timeout=TIMEOUT).json() == [genesis, changed]
    assert http.get(f"{plc.url}/{did}", timeout=TIMEOUT).json()["alsoKnownAs"] == ["at://robert.example.com"]
    assert plc.failures == []


def test_plc_repost_is_409_and_not_a_failure(plc):
    did, genesis, rotation, _ = identity()
    assert post_op(plc, did, genesis).status_code == 200
    again = post_op(plc, did, genesis)
    assert again.status_code == 409 and again.json()["message"]
    assert plc.failures == []


def test_plc_update_must_chain_on_the_head(plc):
    did, genesis, rotation, _ = identity()
    assert post_op(plc, did, genesis).status_code == 200
    assert post_op(plc, did, update(genesis, rotation, alsoKnownAs=["at://one.example.com"])).status_code == 200
    stale = post_op(plc, did, update(genesis, rotation, alsoKnownAs=["at://two.example.com"]))
    assert stale.status_code == 409, stale.text
    assert len(plc.failures) == 1 and "latest operation" in plc.failures[0]


def test_plc_refuses_bad_operations(plc):
    did, genesis, rotation, signing = identity()
    other = new_private_key()
    cases = {
        "wrong DID": ("did:plc:" + "a" * 24, genesis),
        "signed by a key that is not a rotation key": (did, sign_operation(genesis, other)),
        "no rotation keys": None,
        "wrong service type": None,
        "tampered after signing": (did, {**genesis, "alsoKnownAs": ["at://mallory.example.com"]}),
        "padded sig": (did, {**genesis, "sig": genesis["sig"] + "=="}),
    }
    op = {k: v for k, v in genesis.items() if k != "sig"}
    empty = sign_operation({**op, "rotationKeys": []}, rotation)
    cases["no rotation keys"] = (make_did(empty), empty)
    bad_service = sign_operation({**op, "services": {"atproto_pds": {"type": "Pds", "endpoint": "http://x"}}}, rotation)
    cases["wrong service type"] = (make_did(bad_service), bad_service)
    big = sign_operation({**op, "alsoKnownAs": [f"at://h{i}.example.com" for i in range(400)]}, rotation)
    cases["over 7500 bytes"] = (make_did(big), big)
    for reason, (target, operation) in cases.items():
        response = post_op(plc, target, operation)
        assert response.status_code == 400, f"{reason}: {response.status_code} {response.text}"
        assert response.json()["message"]
    assert len(plc.failures) == len(cases)
    # High-S: flip s of a valid signature.
    plc.failures.clear()
    signature = bytearray(base64.urlsafe_b64decode(genesis["sig"] + "=="))
    n = CURVES[K256]["n"]
    s = n - int.from_bytes(signature[32:], "big")
    high = {**genesis, "sig": b64url_encode(bytes(signature[:32]) + s.to_bytes(32, "big"))}
    response = post_op(plc, make_did(high), high)
    assert response.status_code == 400 and "high-S" in response.json()["message"]


def test_plc_unknown_did_and_tombstone(plc):
    assert http.get(f"{plc.url}/did:plc:{'b' * 24}", timeout=TIMEOUT).status_code == 404
    assert http.get(f"{plc.url}/did:plc:{'b' * 24}/log/audit", timeout=TIMEOUT).status_code == 404
    did, genesis, rotation, _ = identity()
    assert post_op(plc, did, genesis).status_code == 200
    tombstone = sign_operation({"type": "plc_tombstone", "prev": op_cid(genesis)}, rotation)
    assert post_op(plc, did, tombstone).status_code == 200
    assert http.get(f"{plc.url}/{did}", timeout=TIMEOUT).status_code == 410
    after = post_op(plc, did, update(genesis, rotation, prev=op_cid(tombstone)))
    assert after.status_code in (400, 409)


# --- service-auth JWTs -----------------------------------------------------------------------------

@pytest.fixture()
def appview(plc):
    with AppView(plc.url) as appview:
        yield appview


def registered(plc, curve=K256):
    rotation, signing = new_private_key(), new_private_key(curve)
    did, genesis = make_genesis(rotation, signing, "carol.example.com", "http://127.0.0.1:1")
    assert post_op(plc, did, genesis).status_code == 200
    return did, signing


def call(service, nsid, token=None, params=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(f"{service.url}/xrpc/{nsid}", params=params, headers=headers, timeout=TIMEOUT)


@pytest.mark.parametrize("curve", [K256, P256])
def test_jwt_valid_token_is_accepted(plc, appview, curve):
    did, signing = registered(plc, curve)
    token = make_service_jwt(signing, did, appview.did, "app.bsky.feed.getTimeline")
    response = call(appview, "app.bsky.feed.getTimeline", token, {"limit": "30"})
    assert response.status_code == 200, response.text
    assert response.json()["feed"] == []
    (received,) = appview.calls_to("app.bsky.feed.getTimeline")
    assert received["jwt"]["payload"]["iss"] == did and received["query"] == {"limit": ["30"]}
    # `did#bsky_appview` is accepted as the audience too.
    token = make_service_jwt(signing, did, f"{appview.did}#bsky_appview", "app.bsky.actor.getProfile")
    profile = call(appview, "app.bsky.actor.getProfile", token, {"actor": did})
    assert profile.status_code == 200 and profile.json()["handle"] == "carol.example.com"
    assert appview.failures == []


def test_jwt_bad_tokens_are_refused(plc, appview):
    did, signing = registered(plc)
    nsid = "app.bsky.feed.getTimeline"
    now = int(time.time())
    forged_key = new_private_key()

    def high_s(token):
        head, body, sig = token.split(".")
        raw = base64.urlsafe_b64decode(sig + "==")
        s = CURVES[K256]["n"] - int.from_bytes(raw[32:], "big")
        return f"{head}.{body}.{b64url_encode(raw[:32] + s.to_bytes(32, 'big'))}"

    bad = {
        "forged": make_service_jwt(forged_key, did, appview.did, nsid),
        "expired": make_service_jwt(signing, did, appview.did, nsid, iat=now - 120, exp=now - 60),
        "wrong aud": make_service_jwt(signing, did, "did:web:elsewhere.test", nsid),
        "wrong lxm": make_service_jwt(signing, did, appview.did, "app.bsky.feed.getAuthorFeed"),
        "no lxm": make_service_jwt(signing, did, appview.did, None),
        "too long": make_service_jwt(signing, did, appview.did, nsid, exp=now + 600),
        "no jti": make_service_jwt(signing, did, appview.did, nsid, jti=""),
        "access token typ": make_service_jwt(signing, did, appview.did, nsid, header={"typ": "at+jwt", "alg": "ES256K"}),
        "HS256": make_service_jwt(signing, did, appview.did, nsid, header={"typ": "JWT", "alg": "HS256"}),
        "wrong alg for key": make_service_jwt(signing, did, appview.did, nsid, header={"typ": "JWT", "alg": "ES256"}),
        "iss with fragment": make_service_jwt(signing, did + "#atproto", appview.did, nsid),
        "unknown iss": make_service_jwt(signing, "did:plc:" + "c" * 24, appview.did, nsid),
        "high-S": high_s(make_service_jwt(signing, did, appview.did, nsid)),
        "garbage": "not-a-jwt",
    }
    for reason, token in bad.items():
        response = call(appview, nsid, token)
        assert response.status_code == 401, f"{reason}: accepted ({response.status_code})"
        assert response.json()["error"], reason
    assert call(appview, nsid).status_code == 401  # no Authorization at all
    # A replayed jti is refused the second time.
    token = make_service_jwt(signing, did, appview.did, nsid)
    assert call(appview, nsid, token).status_code == 200
    assert call(appview, nsid, token).status_code == 401
    assert len(appview.failures) == len(bad) + 2
    assert any("high-S" in failure for failure in appview.failures)
    assert any("replay" in failure for failure in appview.failures)
    assert appview.calls_to(nsid) and len(appview.calls_to(nsid)) == 1


def test_jwt_upload_blob_may_live_30_minutes(plc, appview):
    did, signing = registered(plc)
    now = int(time.time())
    token = make_service_jwt(signing, did, appview.did, "com.atproto.repo.uploadBlob", exp=now + 1800)
    verifier = appview.verifier
    header, payload = verifier.verify(f"Bearer {token}", {appview.did}, "com.atproto.repo.uploadBlob")
    assert payload["exp"] == now + 1800
    too_long = make_service_jwt(signing, did, appview.did, "com.atproto.repo.uploadBlob", exp=now + 7200)
    with pytest.raises(CheckError):
        verifier.verify(f"Bearer {too_long}", {appview.did}, "com.atproto.repo.uploadBlob")


def test_get_feed_needs_the_feed_generator_audience(plc, appview):
    did, signing = registered(plc)
    feed = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.generator/whats-hot"
    naive = make_service_jwt(signing, did, appview.did, "app.bsky.feed.getFeed")
    assert call(appview, "app.bsky.feed.getFeed", naive, {"feed": feed}).status_code == 401
    right = make_service_jwt(signing, did, "did:web:discover.bsky.app", "app.bsky.feed.getFeedSkeleton")
    assert call(appview, "app.bsky.feed.getFeed", right, {"feed": feed}).status_code == 200
    assert len(appview.failures) == 1


def test_repo_rev_header_and_unknown_methods(plc, appview):
    did, signing = registered(plc)
    appview.repo_rev = "3abcdefghij22"
    token = make_service_jwt(signing, did, appview.did, "app.bsky.unspecced.getNothing")
    response = call(appview, "app.bsky.unspecced.getNothing", token)
    assert response.status_code == 400 and response.json()["error"] == "MethodNotImplemented"
    assert response.headers["Atproto-Repo-Rev"] == "3abcdefghij22"


def test_chat_service_did_web_and_tokens(plc):
    with ChatService(plc.url) as chat:
        assert chat.did == f"did:web:127.0.0.1%3A{chat.port}"
        doc = DidResolver(plc.url).resolve(chat.did)
        assert doc["id"] == chat.did
        assert doc["service"] == [{"id": "#bsky_chat", "type": "BskyChatService", "serviceEndpoint": chat.url}]
        did, signing = registered(plc)
        for aud in (chat.did, chat.proxy_header):
            token = make_service_jwt(signing, did, aud, "chat.bsky.convo.listConvos")
            response = call(chat, "chat.bsky.convo.listConvos", token)
            assert response.status_code == 200 and response.json() == {"convos": []}
        token = make_service_jwt(signing, did, "did:web:appview.test", "chat.bsky.convo.getLog")
        assert call(chat, "chat.bsky.convo.getLog", token).status_code == 401
        assert len(chat.failures) == 1


def test_did_key_parsing():
    # The examples of ATPROTO.md §7.
    assert parse_did_key("did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo").curve == P256
    assert parse_did_key("did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc").curve == K256
    for bad in ("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "did:key:abc", "did:web:x"):
        with pytest.raises(CheckError):
            parse_did_key(bad)
    key = new_private_key(P256)
    assert parse_did_key(did_key_for(key)).curve == P256 and len(sign_raw(key, b"x")) == 64


# --- relay and DNS ---------------------------------------------------------------------------------

def test_relay_records_request_crawl():
    with Relay() as relay:
        url = f"{relay.url}/xrpc/com.atproto.sync.requestCrawl"
        response = http.post(url, json={"hostname": "pds.example.com"}, timeout=TIMEOUT)
        assert response.status_code == 200 and response.json() == {}
        assert [r["hostname"] for r in relay.crawl_requests] == ["pds.example.com"]
        assert relay.failures == []
        assert http.post(url, json={"hostname": "https://pds.example.com/"}, timeout=TIMEOUT).status_code == 400
        assert http.get(f"{relay.url}/xrpc/com.atproto.sync.listHosts", timeout=TIMEOUT).status_code == 404
        assert len(relay.failures) == 2


def test_dns_answers_txt():
    with DnsServer() as server:
        server.set_txt("_atproto.alice.example.com", "did=did:plc:abcdefghijklmnopqrstuvwx")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = server.port
        resolver.lifetime = 5
        answer = resolver.resolve("_atproto.alice.example.com", "TXT")
        assert [b"".join(r.strings).decode() for r in answer] == ["did=did:plc:abcdefghijklmnopqrstuvwx"]
        with pytest.raises(dns.resolver.NXDOMAIN):
            resolver.resolve("_atproto.nobody.example.com", "TXT")
        # TCP too, and the queries were recorded.
        query = dns.message.make_query("_ATPROTO.Alice.Example.Com", "TXT")
        response = dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=5)
        assert response.rcode() == dns.rcode.NOERROR and len(response.answer) == 1
        assert [q["transport"] for q in server.queried("_atproto.alice.example.com")] == ["udp", "tcp"]
        assert server.queried("_atproto.nobody.example.com")
        assert server.failures == []

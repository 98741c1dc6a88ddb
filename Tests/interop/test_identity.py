"""Identity endpoints (REFERENCE-PDS.md §1d, §6; issue 5 point 2) against loopback stand-ins:

  * `getRecommendedDidCredentials` agrees with what the PLC stand-in holds for the account;
  * the PLC-operation flow used by migration and key management: `requestPlcOperationSignature`,
    a token from `pds account plc-token`, `signPlcOperation`, `submitPlcOperation` (validated by the PLC
    stand-in, announced as `#identity` on the firehose), and the operations `submitPlcOperation` must
    refuse (the server's rotation key dropped, `atproto_pds` pointing elsewhere);
  * a `did:web` account: `/.well-known/did.json`, the session's `didDoc`, a signed repo, resolveHandle.

This module starts its own servers (binary: $PDS_INTEROP_BIN, default .build/debug/pds): a did:plc one
against a full set of stand-ins, and a `--did-web` one. Tests run in file order: the successful
submission precedes the refused ones, which chain on it."""

import re
import secrets
import time

import libipld
import pytest

from conftest import assert_xrpc_error
from network_server import TIMEOUT, assert_ok, start_pds
from repo_check import fetch_repo, signing_key
from standins import Network
from standins.common import did_key_for, doc_service, doc_signing_key, new_private_key
from standins.plc import OPERATION_FIELDS, check_shape, op_cid, signer_index

HANDLE = "alice.test"
WEB_HANDLE = "carol.test"
PLC_TOKEN = re.compile(r"^[A-Za-z0-9]{5}-[A-Za-z0-9]{5}$")
IDENTITY_WAIT = 10


# --- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


@pytest.fixture(scope="module")
def pds(net, tmp_path_factory):
    with start_pds(tmp_path_factory.mktemp("pds-identity"), HANDLE, env=net.env()) as server:
        yield server


@pytest.fixture(scope="module")
def web_net():
    with Network() as network:
        yield network


@pytest.fixture(scope="module")
def web_pds(web_net, tmp_path_factory):
    with start_pds(tmp_path_factory.mktemp("pds-did-web"), WEB_HANDLE, env=web_net.env(),
                   extra_args=["--did-web"]) as server:
        yield server


@pytest.fixture(scope="module")
def state():
    """What earlier tests of this module learnt (the tests run in file order)."""
    return {}


def full_token(pds):
    return pds.create_session()["accessJwt"]


def app_password_token(pds):
    created = assert_ok(pds.post("com.atproto.server.createAppPassword", {"name": f"app-{secrets.token_hex(4)}"},
                                 token=full_token(pds)), "createAppPassword")
    return pds.create_session(password=created["password"])["accessJwt"]


def credentials(pds):
    return assert_ok(pds.get("com.atproto.identity.getRecommendedDidCredentials", token=full_token(pds)),
                     "getRecommendedDidCredentials")


def plc_token(pds):
    """A token printed by `pds account plc-token --data <the running server's data dir>`."""
    result = pds.run_cli("account", "plc-token", "--data", str(pds.data_dir))
    assert result.returncode == 0, f"pds account plc-token exited {result.returncode}: {result.stderr[-500:]}"
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and PLC_TOKEN.fullmatch(lines[0]), f"plc-token printed {result.stdout!r}"
    return lines[0]


def head(net, did):
    """(cid, operation) of the latest operation the PLC stand-in holds for `did`."""
    active = net.plc.active(did)
    assert active, f"the PLC stand-in holds no operation for {did}"
    return active[-1]["cid"], active[-1]["operation"]


def received(net, since=0):
    with net.plc.lock:
        return list(net.plc.received[since:])


def server_rotation_key(net, did):
    """The rotation key that signed the account's genesis operation (the server's key)."""
    genesis = net.plc.audit_log(did)[0]["operation"]
    assert genesis["prev"] is None, genesis
    return genesis["rotationKeys"][signer_index(genesis["rotationKeys"], genesis)]


def sign(pds, body, what="signPlcOperation"):
    response = pds.post("com.atproto.identity.signPlcOperation", body, token=full_token(pds))
    signed = assert_ok(response, what)
    assert set(signed) == {"operation"}, f"{what}: response fields {sorted(signed)}"
    return signed["operation"]


def replay(pds, seconds, until=None, idle=1.0):
    """Frames of `subscribeRepos?cursor=0` as (header, body): stops when `until(header, body)` holds,
    after `idle` s of silence when there is no `until`, and after `seconds` in any case."""
    from websockets.sync.client import connect
    url = pds.url.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0"
    frames = []
    deadline = time.time() + seconds
    with connect(url, open_timeout=TIMEOUT, close_timeout=1) as socket_:
        while time.time() < deadline:
            remaining = deadline - time.time()
            try:
                frame = socket_.recv(timeout=max(0.05, remaining if until else min(idle, remaining)))
            except TimeoutError:
                break
            header, body = libipld.decode_dag_cbor_multi(frame)[:2]
            frames.append((header, body))
            if until is not None and until(header, body):
                break
    return frames


def last_seq(pds):
    seqs = [body["seq"] for header, body in replay(pds, IDENTITY_WAIT) if isinstance(body.get("seq"), int)]
    return max(seqs, default=0)


# --- getRecommendedDidCredentials ---------------------------------------------------------------------

def test_recommended_did_credentials(pds, net):
    assert pds.did.startswith("did:plc:"), pds.did
    creds = credentials(pds)
    assert set(creds) >= {"alsoKnownAs", "verificationMethods", "rotationKeys", "services"}, creds
    assert creds["alsoKnownAs"] == [f"at://{HANDLE}"]

    doc = net.plc.document(pds.did)
    assert doc is not None, f"the PLC stand-in has no DID document for {pds.did}"
    (method,) = [m for m in doc["verificationMethod"] if m["id"] == f"{pds.did}#atproto"]
    assert creds["verificationMethods"].get("atproto") == "did:key:" + method["publicKeyMultibase"], \
        f"verificationMethods {creds['verificationMethods']} vs the DID document's {method}"

    rotation_key = server_rotation_key(net, pds.did)
    assert isinstance(creds["rotationKeys"], list) and rotation_key in creds["rotationKeys"], \
        f"rotationKeys {creds['rotationKeys']} lack {rotation_key}, which signed the genesis op"
    assert creds["services"].get("atproto_pds") == {"type": "AtprotoPersonalDataServer", "endpoint": pds.url}, \
        creds["services"]


# --- requestPlcOperationSignature / signPlcOperation ----------------------------------------------------

def test_request_plc_operation_signature(pds, net):
    before = len(received(net))
    response = pds.post("com.atproto.identity.requestPlcOperationSignature", token=full_token(pds))
    assert response.status_code == 200, f"full session: {response.status_code} {response.text[:300]}"

    app_token = app_password_token(pds)
    refused = pds.post("com.atproto.identity.requestPlcOperationSignature", token=app_token)
    assert_xrpc_error(refused, 400, "InvalidToken")
    refused = pds.post("com.atproto.identity.signPlcOperation", {"token": plc_token(pds)}, token=app_token)
    assert_xrpc_error(refused, 400, "InvalidToken")
    assert received(net, before) == [], "requesting a signature must not touch the PLC directory"


def test_sign_plc_operation_refuses_a_wrong_token(pds, net):
    plc_token(pds)   # a real token is outstanding; another one must still be refused
    creds = credentials(pds)
    wrong = "-".join(secrets.token_hex(3)[:5].upper() for _ in range(2))
    response = pds.post("com.atproto.identity.signPlcOperation",
                        {"token": wrong, "alsoKnownAs": creds["alsoKnownAs"], "services": creds["services"]},
                        token=full_token(pds))
    assert_xrpc_error(response, 400, "InvalidToken")


def test_sign_plc_operation(pds, net, state):
    creds = credentials(pds)
    head_cid, head_op = head(net, pds.did)
    before = len(received(net))
    token = plc_token(pds)
    body = {"token": token, "alsoKnownAs": creds["alsoKnownAs"], "services": creds["services"]}
    operation = sign(pds, body)

    check_shape(operation, strict=True)
    assert set(operation) == OPERATION_FIELDS, sorted(operation)
    assert operation["type"] == "plc_operation"
    assert operation["prev"] == head_cid, f"prev {operation['prev']} is not the PLC head {head_cid}"
    assert operation["alsoKnownAs"] == creds["alsoKnownAs"]
    assert operation["services"] == creds["services"]
    for field in ("rotationKeys", "verificationMethods"):
        assert operation[field] == head_op[field], f"{field} not given, so it must be copied from the last op"
    index = signer_index(head_op["rotationKeys"], operation)
    assert head_op["rotationKeys"][index] == server_rotation_key(net, pds.did), \
        "the operation is not signed by the server's rotation key"
    assert received(net, before) == [], "signPlcOperation must not submit the operation"

    reused = pds.post("com.atproto.identity.signPlcOperation", body, token=full_token(pds))
    assert_xrpc_error(reused, 400, "InvalidToken")
    state["operation"] = operation


# --- submitPlcOperation ----------------------------------------------------------------------------------

def test_submit_plc_operation(pds, net, state):
    operation = state.get("operation")
    if operation is None:
        pytest.fail("no signed operation: test_sign_plc_operation failed")
    seq_before = last_seq(pds)
    before = len(received(net))

    response = pds.post("com.atproto.identity.submitPlcOperation", {"operation": operation}, token=full_token(pds))
    assert response.status_code == 200, f"submitPlcOperation: {response.status_code} {response.text[:500]}"

    entries = received(net, before)
    assert [(e["did"], e["status"]) for e in entries] == [(pds.did, 200)], \
        f"the PLC stand-in received {[(e['did'], e['status'], e['message']) for e in entries]}"
    assert entries[0]["operation"] == operation, "the PLC stand-in received a different operation"
    assert net.plc.failures == [], net.plc.failures
    head_cid, head_op = head(net, pds.did)
    assert head_op == operation and head_cid == op_cid(operation)

    def announced(header, body):
        return header.get("t") == "#identity" and body.get("did") == pds.did and body.get("seq", 0) > seq_before
    frames = replay(pds, IDENTITY_WAIT, until=announced)
    events = [body for header, body in frames if announced(header, body)]
    assert events, (f"no #identity event for {pds.did} after seq {seq_before} on subscribeRepos within "
                    f"{IDENTITY_WAIT} s (frames: {[h.get('t') for h, _ in frames]})")
    assert isinstance(events[0].get("time"), str), events[0]


def _sign_and_submit_refused(pds, net, body, what):
    operation = sign(pds, {"token": plc_token(pds), **body}, f"signPlcOperation ({what})")
    head_cid, _ = head(net, pds.did)
    assert operation["prev"] == head_cid
    before = len(received(net))
    response = pds.post("com.atproto.identity.submitPlcOperation", {"operation": operation}, token=full_token(pds))
    assert_xrpc_error(response, 400, "InvalidRequest")
    assert received(net, before) == [], f"an operation that {what} reached the PLC directory"
    assert head(net, pds.did)[0] == head_cid


def test_submit_refuses_an_operation_without_the_servers_rotation_key(pds, net):
    # What migrating away looks like: the old server signs the new server's keys. This server must not
    # accept such an operation for itself.
    _sign_and_submit_refused(pds, net, {"rotationKeys": [did_key_for(new_private_key())]},
                             "drops the server's rotation key")


def test_submit_refuses_an_operation_for_another_pds(pds, net):
    elsewhere = {"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": "https://pds.elsewhere.example"}}
    _sign_and_submit_refused(pds, net, {"services": elsewhere}, "points atproto_pds elsewhere")


def test_plc_standin_saw_no_failures(pds, net):
    assert net.failures() == [], "the stand-ins recorded failures:\n" + "\n".join(net.failures())
    assert pds.process.poll() is None, f"the pds exited:\n{pds.log_tail()}"


# --- did:web -----------------------------------------------------------------------------------------

def web_did(web_pds):
    return f"did:web:127.0.0.1%3A{web_pds.port}"


def well_known_doc(web_pds):
    response = web_pds.http.get(f"{web_pds.url}/.well-known/did.json", timeout=TIMEOUT)
    return assert_ok(response, "GET /.well-known/did.json")


def test_did_web_document(web_pds):
    did = web_did(web_pds)
    assert web_pds.did == did
    doc = well_known_doc(web_pds)
    assert doc.get("id") == did, doc
    assert doc.get("alsoKnownAs") == [f"at://{WEB_HANDLE}"], doc
    doc_signing_key(doc, did)   # a Multikey #atproto method controlled by the DID
    service = doc_service(doc, "#atproto_pds")
    assert service is not None, doc
    assert service["id"] in ("#atproto_pds", f"{did}#atproto_pds"), service
    assert service.get("type") == "AtprotoPersonalDataServer", service
    assert service.get("serviceEndpoint") == web_pds.url, service


def test_did_web_session(web_pds):
    session = web_pds.create_session()
    assert session["did"] == web_did(web_pds)
    assert session["handle"] == WEB_HANDLE
    assert session.get("didDoc") == well_known_doc(web_pds)


def test_did_web_signed_repo(web_pds):
    did = web_did(web_pds)
    created = assert_ok(web_pds.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": "app.bsky.feed.post",
        "record": {"$type": "app.bsky.feed.post", "text": "hello from did:web",
                   "createdAt": "2024-01-01T00:00:00.000Z"},
    }, token=web_pds.create_session()["accessJwt"]), "createRecord")
    assert created["uri"].startswith(f"at://{did}/app.bsky.feed.post/"), created
    export = fetch_repo(web_pds, did, signing_key(well_known_doc(web_pds), did))
    path = created["uri"][len(f"at://{did}/"):]
    assert path in export.records, f"{path} not in the exported repo {sorted(export.records)}"


def test_did_web_resolve_handle(web_pds):
    response = web_pds.get("com.atproto.identity.resolveHandle", {"handle": WEB_HANDLE})
    assert assert_ok(response, "resolveHandle") == {"did": web_did(web_pds)}


def test_did_web_needs_no_plc(web_pds, web_net):
    assert received(web_net) == [], "a did:web account published to the PLC directory"
    assert web_net.failures() == [], "\n".join(web_net.failures())
    assert web_pds.process.poll() is None, f"the pds exited:\n{web_pds.log_tail()}"

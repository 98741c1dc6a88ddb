"""Account migration between two instances of this server (issue 12), against real processes and the
PLC stand-in, driven through XRPC in the order `goat account migrate` uses (REFERENCE-PDS.md §7.2), with
the Python `atproto` SDK as the client where it has the call:

  describeServer (new) → getServiceAuth (old) → createAccount (new, service auth) → createSession by
  DID (new) → getRepo (old) → importRepo (new) → getPreferences (old) → putPreferences (new) →
  listBlobs/getBlob (old) → uploadBlob (new) → checkAccountStatus (new) → getRecommendedDidCredentials
  (new) → signPlcOperation (old) → submitPlcOperation (new) → activateAccount (new) → deactivateAccount (old)

then back again after the first server deleted its copy (requestAccountDelete, `pds account token
delete-account`, deleteAccount). Each firehose must carry the `#identity`/`#account`/`#sync` events of
the moves; the relay stand-in must be asked to crawl. Refusals of createAccount and importRepo use a
third server without an account and an identity made here (so the test holds its keys).

This module starts its own servers (binary: $PDS_INTEROP_BIN, default .build/debug/pds). Tests run in
file order: the move back needs the move there."""

import re
import time

import pytest
from atproto import Client

from conftest import assert_xrpc_error
from network_server import TIMEOUT, assert_ok, start_pds, wait_for
from repo_check import FirehoseRecorder, fetch_repo, signing_key
from standins import Network
from standins.common import make_service_jwt, new_private_key
from standins.plc import make_genesis, sign_operation, did_for_genesis

HANDLE = "alice.test"
CREATE_ACCOUNT = "com.atproto.server.createAccount"
COLLECTION = "com.example.migration.item"
EVENT_WAIT = 30


@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


@pytest.fixture(scope="module")
def first(net, tmp_path_factory):
    with start_pds(tmp_path_factory.mktemp("pds-move-first"), HANDLE, env=net.env()) as server:
        yield server


@pytest.fixture(scope="module")
def second(net, tmp_path_factory):
    with start_pds(tmp_path_factory.mktemp("pds-move-second"), HANDLE, env=net.env(), extra_args=["--no-account"]) as server:
        yield server


@pytest.fixture(scope="module")
def spare(net, tmp_path_factory):
    with start_pds(tmp_path_factory.mktemp("pds-move-spare"), HANDLE, env=net.env(), extra_args=["--no-account"]) as server:
        yield server


@pytest.fixture(scope="module")
def state():
    return {}


def cli_token(server, *args):
    result = server.run_cli("account", *args, "--data", str(server.data_dir))
    assert result.returncode == 0, f"pds account {' '.join(args)}: {result.returncode} {result.stderr[-500:]}"
    return result.stdout.strip()


def events_for(server, did, wanted, what):
    """Replays the firehose from cursor 0 until `wanted(frames)` holds; returns the frames for `did`."""
    with FirehoseRecorder(server.url, cursor=0) as recorder:
        def ready():
            with recorder.lock:
                frames = [(kind, body) for kind, body, _ in recorder.frames
                          if body.get("did") == did or body.get("repo") == did]
            return frames if wanted(frames) else None
        return wait_for(ready, EVENT_WAIT, what)


def account_events(frames):
    return [(body["active"], body.get("status")) for kind, body in frames if kind == "#account"]


def move(old, new, did, old_password, new_password, net):
    """One move from `old` to `new` in goat's order. Returns (old SDK client, new SDK client)."""
    old_client = old.sdk(identifier=did, password=old_password)
    anonymous = Client(base_url=new.url)
    described = anonymous.com.atproto.server.describe_server()
    assert described.did.startswith("did:"), described
    assert described.invite_code_required is True

    service_token = old_client.com.atproto.server.get_service_auth(
        {"aud": described.did, "lxm": CREATE_ACCOUNT, "exp": int(time.time()) + 60}).token
    invite = cli_token(new, "token", "invite")
    created = assert_ok(new.post(CREATE_ACCOUNT, {"did": did, "handle": HANDLE, "password": new_password,
                                                  "inviteCode": invite}, token=service_token), "createAccount")
    assert created["did"] == did and created["handle"] == HANDLE

    new_client = new.sdk(identifier=did, password=new_password)          # createSession by DID
    session = new_client.com.atproto.server.get_session()
    assert session.active is False and session.status == "deactivated"

    car = old_client.com.atproto.sync.get_repo({"did": did})
    assert new_client.com.atproto.repo.import_repo(car)

    preferences = old_client.app.bsky.actor.get_preferences().preferences
    new_client.app.bsky.actor.put_preferences({"preferences": preferences})

    missing = new_client.com.atproto.repo.list_missing_blobs().blobs
    cursor = None
    while True:
        page = old_client.com.atproto.sync.list_blobs({"did": did, "cursor": cursor, "limit": 100})
        for cid in page.cids:
            data = old_client.com.atproto.sync.get_blob({"did": did, "cid": cid})
            uploaded = new_client.upload_blob(data)
            assert uploaded.blob.ref.link == cid
        if not page.cursor:
            break
        cursor = page.cursor

    status = new_client.com.atproto.server.check_account_status()
    assert status.activated is False and status.valid_did is False
    assert status.expected_blobs == status.imported_blobs >= 1
    assert not new_client.com.atproto.repo.list_missing_blobs().blobs, "blobs still missing after the uploads"

    # Not yet: writes wait for activation, and activation for the identity to point here.
    early_token = new.create_session(identifier=did, password=new_password)["accessJwt"]
    write = new.post("com.atproto.repo.createRecord", {"repo": did, "collection": COLLECTION, "record": {"n": -1}},
                     token=early_token)
    assert_xrpc_error(write, 401, "AccountDeactivated")
    assert_xrpc_error(new.post("com.atproto.server.activateAccount", {}, token=early_token), 400, "InvalidRequest")

    credentials = assert_ok(new.get("com.atproto.identity.getRecommendedDidCredentials",
                                    token=new_client._session.access_jwt), "getRecommendedDidCredentials")
    old_token = old.create_session(identifier=did, password=old_password)["accessJwt"]
    assert_ok(old.post("com.atproto.identity.requestPlcOperationSignature", {}, token=old_token), "requestPlcOperationSignature")
    signed = assert_ok(old.post("com.atproto.identity.signPlcOperation",
                                {"token": cli_token(old, "plc-token"), **credentials}, token=old_token), "signPlcOperation")
    new_token = new.create_session(identifier=did, password=new_password)["accessJwt"]
    assert_ok(new.post("com.atproto.identity.submitPlcOperation", {"operation": signed["operation"]}, token=new_token),
              "submitPlcOperation")
    assert net.plc.document(did)["service"][0]["serviceEndpoint"] == new.url

    crawls_before = len(net.relay.crawl_requests)
    new_client.com.atproto.server.activate_account()
    old_client.com.atproto.server.deactivate_account({})
    status = new_client.com.atproto.server.check_account_status()
    assert status.activated is True and status.valid_did is True
    wait_for(lambda: len(net.relay.crawl_requests) > crawls_before, EVENT_WAIT, "requestCrawl after activation")
    return old_client, new_client, missing


def seed(first, client, did):
    """Records, a blob referenced by one of them, and a preference on the first server."""
    blob = client.upload_blob(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8).blob
    paths = {}
    for index in range(12):
        out = client.com.atproto.repo.create_record(
            {"repo": did, "collection": COLLECTION, "record": {"$type": COLLECTION, "n": index, "text": f"item {index}"}})
        paths[out.uri.split("/", 3)[3]] = out.cid
    out = client.com.atproto.repo.create_record(
        {"repo": did, "collection": COLLECTION, "record": {"$type": COLLECTION, "n": 99, "file": blob}})
    paths[out.uri.split("/", 3)[3]] = out.cid
    client.app.bsky.actor.put_preferences(
        {"preferences": [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": False}]})
    return paths, blob.ref.link


def test_move_there_in_goat_order(first, second, net, state):
    did = first.did
    old_client = first.sdk()
    paths, blob_cid = seed(first, old_client, did)
    new_password = "moved-" + str(time.time_ns())
    _, new_client, missing = move(first, second, did, first.password, new_password, net)
    assert [blob.cid for blob in missing] == [blob_cid]
    state.update(did=did, paths=paths, blob=blob_cid, second_password=new_password)

    # The records, the blob and the preferences are here; the export verifies against the new key.
    key = signing_key(net.plc.document(did), did)
    exported = fetch_repo(second, did, key)
    assert set(paths) <= set(exported.records), "records missing from the new server's export"
    for path, cid in paths.items():
        collection, rkey = path.split("/")
        record = assert_ok(second.get("com.atproto.repo.getRecord", {"repo": did, "collection": collection, "rkey": rkey}), "getRecord")
        assert record["cid"] == cid
    assert second.get("com.atproto.sync.getBlob", {"did": did, "cid": blob_cid}).status_code == 200
    prefs = new_client.app.bsky.actor.get_preferences().preferences
    assert any(getattr(pref, "py_type", None) == "app.bsky.actor.defs#adultContentPref" for pref in prefs), prefs
    # Writes continue from the imported tree.
    new_client.com.atproto.repo.create_record({"repo": did, "collection": COLLECTION, "record": {"$type": COLLECTION, "n": 100}})

    # The old copy: public reads refused, the owner's export still served.
    assert_xrpc_error(first.get("com.atproto.sync.getRepo", {"did": did}), 400, "RepoDeactivated")
    owner = first.create_session(identifier=did)["accessJwt"]
    assert first.get("com.atproto.sync.getRepo", {"did": did}, token=owner).status_code == 200
    assert first.get("com.atproto.sync.getBlob", {"did": did, "cid": blob_cid}, token=owner).status_code == 200

    frames = events_for(second, did, lambda f: {"#identity", "#account", "#sync"} <= {k for k, _ in f}, "activation events")
    assert account_events(frames) == [(True, None)], frames
    sync = [body for kind, body in frames if kind == "#sync"]
    assert sync and sync[0]["rev"], sync
    frames = events_for(first, did, lambda f: (False, "deactivated") in account_events(f), "#account deactivated")
    assert account_events(frames)[-1] == (False, "deactivated")


def test_move_back_after_deleting_the_old_copy(first, second, net, state):
    if "did" not in state:
        pytest.fail("the move there failed")
    did = state["did"]
    token = first.create_session(identifier=did)["accessJwt"]
    assert_ok(first.post("com.atproto.server.requestAccountDelete", {}, token=token), "requestAccountDelete")
    wrong = first.post("com.atproto.server.deleteAccount", {"did": did, "password": first.password, "token": "AAAAA-AAAAA"})
    assert_xrpc_error(wrong, 400, "InvalidToken")
    delete_token = cli_token(first, "token", "delete-account")
    assert_ok(first.post("com.atproto.server.deleteAccount", {"did": did, "password": first.password, "token": delete_token}),
              "deleteAccount")
    assert_xrpc_error(first.get("com.atproto.sync.getRepo", {"did": did}), 400, "RepoNotFound")
    frames = events_for(first, did, lambda f: (False, "deleted") in account_events(f), "#account deleted")
    assert account_events(frames)[-1] == (False, "deleted")

    back_password = "back-" + str(time.time_ns())
    _, client, _ = move(second, first, did, state["second_password"], back_password, net)
    for path, cid in state["paths"].items():
        collection, rkey = path.split("/")
        record = assert_ok(first.get("com.atproto.repo.getRecord", {"repo": did, "collection": collection, "rkey": rkey}), "getRecord")
        assert record["cid"] == cid
    assert first.get("com.atproto.sync.getBlob", {"did": did, "cid": state["blob"]}).status_code == 200
    assert_xrpc_error(second.get("com.atproto.sync.getRepo", {"did": did}), 400, "RepoDeactivated")
    frames = events_for(first, did, lambda f: (True, None) in account_events(f), "#account active after the move back")
    assert {"#identity", "#sync"} <= {kind for kind, _ in frames}
    frames = events_for(second, did, lambda f: (False, "deactivated") in account_events(f), "#account deactivated on the second server")
    assert net.plc.failures == [], net.plc.failures


# --- refusals ----------------------------------------------------------------------------------------

def make_identity(net, endpoint, with_signing_key=True):
    """A did:plc registered in the stand-in, whose keys this test holds: (did, signing key)."""
    rotation, signing = new_private_key(), new_private_key()
    did, genesis = make_genesis(rotation, signing, "mover.test", endpoint)
    if not with_signing_key:
        body = {key: value for key, value in genesis.items() if key != "sig"}
        body["verificationMethods"] = {}
        genesis = sign_operation(body, rotation)
        did = did_for_genesis(genesis)
        net.plc.strict = False   # the reference directory accepts a document without keys
        try:
            net.plc.submit(did, genesis, time.time())
        finally:
            net.plc.strict = True
    else:
        net.plc.submit(did, genesis, time.time())
    return did, signing


def create(spare, did, token, invite=None):
    return spare.post(CREATE_ACCOUNT, {"did": did, "handle": "mover.test", "password": "mover-password",
                                       "inviteCode": invite or cli_token(spare, "token", "invite")}, token=token)


def test_create_account_refusals(spare, first, net, state):
    audience = Client(base_url=spare.url).com.atproto.server.describe_server().did
    did, key = make_identity(net, spare.url)
    now = int(time.time())
    assert_xrpc_error(spare.post(CREATE_ACCOUNT, {"did": did, "handle": "mover.test", "password": "x", "inviteCode": "A"}),
                      401, "AuthenticationRequired")
    assert_xrpc_error(create(spare, did, make_service_jwt(key, did, "did:web:elsewhere.example", lxm=CREATE_ACCOUNT)),
                      401, "BadJwtAudience")
    assert_xrpc_error(create(spare, did, make_service_jwt(key, did, audience, lxm=CREATE_ACCOUNT, iat=now - 120, exp=now - 60)),
                      401, "JwtExpired")
    assert_xrpc_error(create(spare, did, make_service_jwt(key, did, audience, lxm="com.atproto.repo.uploadBlob")),
                      401, "BadJwtLexiconMethod")
    assert_xrpc_error(create(spare, did, make_service_jwt(new_private_key(), did, audience, lxm=CREATE_ACCOUNT)),
                      401, "BadJwtSignature")
    keyless, keyless_key = make_identity(net, spare.url, with_signing_key=False)
    assert_xrpc_error(create(spare, keyless, make_service_jwt(keyless_key, keyless, audience, lxm=CREATE_ACCOUNT)),
                      400, "IncompatibleDidDoc")
    good = make_service_jwt(key, did, audience, lxm=CREATE_ACCOUNT)
    assert_xrpc_error(create(spare, did, good, invite="ZZZZZ-ZZZZZ"), 400, "InvalidInviteCode")
    # The server that already holds an account refuses another one.
    other, other_key = make_identity(net, first.url)
    first_audience = Client(base_url=first.url).com.atproto.server.describe_server().did
    refused = first.post(CREATE_ACCOUNT, {"did": other, "handle": "mover.test", "password": "mover-password", "inviteCode": "AAAAA-AAAAA"},
                         token=make_service_jwt(other_key, other, first_audience, lxm=CREATE_ACCOUNT))
    assert_xrpc_error(refused, 400, "InvalidRequest")
    # Nothing was created by the refusals; the good token then works.
    created = assert_ok(create(spare, did, good), "createAccount")
    assert created["did"] == did
    state["spare_did"] = did


def test_import_refusals_store_nothing(spare, first, state):
    if "did" not in state or "spare_did" not in state:
        pytest.fail("the moves or the spare account's creation failed")
    session = spare.create_session(identifier=state["spare_did"], password="mover-password")
    token = session["accessJwt"]
    another = first.get("com.atproto.sync.getRepo", {"did": state["did"]})
    assert another.status_code == 200, another.text[:300]
    car = another.content

    def refused(data):
        response = spare.post("com.atproto.repo.importRepo", data=data, token=token,
                              headers={"Content-Type": "application/vnd.ipld.car"})
        assert_xrpc_error(response, 400, "InvalidRequest")
        status = assert_ok(spare.get("com.atproto.server.checkAccountStatus", token=token), "checkAccountStatus")
        assert status["repoBlocks"] == 0 and status["indexedRecords"] == 0 and "repoCommit" not in status, status

    refused(car)                          # another account's repository: its commit names another DID
    damaged = bytearray(car)
    damaged[-5] ^= 0x01                   # the last block no longer matches its CID
    refused(bytes(damaged))
    refused(b"\x0anot a car at all")



# --- a production server prepared without an account ---------------------------------------------------

def test_init_without_an_account_then_serve_receives_a_move(net, tmp_path):
    """`pds init --no-account` writes the keys and config, prints an invite code (and the recovery
    key), and `pds serve` runs without an account; createAccount with that invite and a valid service
    token then creates the account, deactivated."""
    from test_appliance import Setup, describe, pds as run_pds, serving

    (tmp_path / "prepared").mkdir()
    setup = Setup(tmp_path / "prepared", "unused.test", "identity")
    result = run_pds(*setup.init_args(net, drop=("--handle", "--password-file")), "--no-account", timeout=60)
    assert result.returncode == 0, describe(result)
    invite = re.search(r"invite code:\s+([A-Z0-9]{5}-[A-Z0-9]{5})", result.stdout)
    assert invite, result.stdout
    assert re.search(r"did:key:z[1-9A-HJ-NP-Za-km-z]+", result.stdout), "the recovery key is shown"
    with serving(setup) as server:
        described = server.get("/xrpc/com.atproto.server.describeServer").json()
        did, key = make_identity(net, server.url)
        token = make_service_jwt(key, did, described["did"], lxm=CREATE_ACCOUNT)
        created = server.http.post(server.url + "/xrpc/" + CREATE_ACCOUNT, timeout=TIMEOUT,
                                   json={"did": did, "handle": "mover.test", "password": "mover-password",
                                         "inviteCode": invite.group(1)},
                                   headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 200, created.text[:500]
        session = server.http.get(server.url + "/xrpc/com.atproto.server.getSession", timeout=TIMEOUT,
                                  headers={"Authorization": f"Bearer {created.json()['accessJwt']}"}).json()
        assert session["did"] == did and session["active"] is False and session["status"] == "deactivated"
        # The invite was used up.
        again = server.http.post(server.url + "/xrpc/" + CREATE_ACCOUNT, timeout=TIMEOUT,
                                 json={"did": did, "handle": "mover.test", "password": "x", "inviteCode": invite.group(1)},
                                 headers={"Authorization": f"Bearer {token}"})
        assert_xrpc_error(again, 400, "InvalidRequest")

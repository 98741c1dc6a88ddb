"""OAuth `include:` permission sets (https://atproto.com/specs/permission, "Permission Sets"), resolved
through Lexicon resolution (https://atproto.com/specs/lexicon, "Lexicon Publication and Resolution")
against loopback stand-ins: the DNS stand-in answers `_lexicon.<authority>` TXT, and a Lexicon
authority stand-in (a did:web on 127.0.0.1) serves the `com.atproto.lexicon.schema` records as
signed `sync.getRecord` proofs.

This module starts its OWN `pds dev` pointed at the stand-ins (PDS_DNS_RESOLVER), so no lookup leaves
loopback. A client asking for `include:com.example.interop.authBasics` gets the set's permissions:
a DPoP createRecord in the set's collection succeeds, one outside it is refused with
ScopeMissingError, and a set that cannot be resolved refuses the request at PAR (invalid_scope)."""

import pytest
import requests

from network_server import start_pds
from oauth_support import TIMEOUT, ClientSite, RawClient, approve_with_forms, callback_params, hidden_fields
from standins import Network
from standins.common import new_private_key
from standins.lexicon import LexiconAuthority

HANDLE = "alice.test"
SET = "com.example.interop.authBasics"
SCOPE = f"atproto include:{SET}"
ALLOWED = "com.example.interop.thing"
GRANTED = f"atproto repo:{ALLOWED}?action=create"


def permission_set(nsid, permissions, **extra):
    return {"lexicon": 1, "id": nsid,
            "defs": {"main": dict({"type": "permission-set", "permissions": permissions}, **extra)}}


@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


@pytest.fixture(scope="module")
def authority(net):
    with LexiconAuthority() as stand_in:
        net.dns.set_txt("_lexicon.interop.example.com", f"did={stand_in.did}")
        stand_in.publish(permission_set(SET, [
            {"type": "permission", "resource": "repo", "collection": [ALLOWED], "action": ["create"]},
            # Outside the set's namespace (com.example.interop.*): dropped, not granted.
            {"type": "permission", "resource": "repo", "collection": ["com.example.other.thing"]},
            # Not allowed in a set at all: ignored.
            {"type": "permission", "resource": "blob", "accept": ["*/*"]},
        ], title="Interop basics", detail="Create interop things.", **{"title:lang": {"fr": "Les bases interop"}}))
        yield stand_in


@pytest.fixture(scope="module")
def pds(net, authority, tmp_path_factory):
    env = dict(net.env(), PDS_OAUTH_ALLOW_LOOPBACK_CLIENTS="1")
    with start_pds(tmp_path_factory.mktemp("pds-permission-sets"), HANDLE, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def site():
    site = ClientSite()
    yield site
    site.close()


def create_record(client, access, did, collection):
    body = {"repo": did, "collection": collection,
            "record": {"$type": collection, "text": "x", "createdAt": "2026-01-01T00:00:00.000Z"}}
    return client.resource("POST", "com.atproto.repo.createRecord", access, body=body)


def test_included_set_grants_its_permissions_and_nothing_else(pds, net, authority, site):
    client = RawClient(pds.url, site.client("with-set", scope=SCOPE))
    response, verifier, form = client.par(scope=SCOPE)
    assert response.status_code == 201, response.text
    assert net.dns.queried("_lexicon.interop.example.com")
    assert SET in authority.fetches
    location = approve_with_forms(client.authorize_url(response.json()["request_uri"]), pds.url, pds.handle, pds.password)
    params = callback_params(location)
    assert params["state"] == form["state"]
    token = client.token(grant_type="authorization_code", code=params["code"], code_verifier=verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    # As the reference authorization server: the token's scope is the set expanded.
    assert body["scope"] == GRANTED, body

    allowed = create_record(client, body["access_token"], pds.did, ALLOWED)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["uri"].startswith(f"at://{pds.did}/{ALLOWED}/")
    for collection in ("com.example.interop.other", "com.example.other.thing", "app.bsky.feed.post"):
        refused = create_record(client, body["access_token"], pds.did, collection)
        assert refused.status_code == 403, refused.text
        assert set(refused.json()) == {"error", "message"} and refused.json()["error"] == "ScopeMissingError"

    # A refresh expands the set again (unchanged here) and keeps what was granted.
    refreshed = client.token(grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["scope"] == GRANTED
    assert create_record(client, refreshed.json()["access_token"], pds.did, ALLOWED).status_code == 200


def test_consent_page_words_the_set(pds, site):
    client = RawClient(pds.url, site.client("with-set-page", scope=SCOPE))
    response, _, _ = client.par(scope=SCOPE)
    assert response.status_code == 201, response.text
    browser = requests.Session()
    browser.headers["Accept-Language"] = "fr-CA, fr;q=0.9, en;q=0.5"
    page = browser.get(client.authorize_url(response.json()["request_uri"]), timeout=TIMEOUT)
    fields = dict(hidden_fields(page.text), identifier=pds.handle, password=pds.password)
    consent = browser.post(pds.url + "/oauth/authorize", data=fields, timeout=TIMEOUT)
    assert consent.status_code == 200, consent.text
    assert "Les bases interop: Create interop things. (permission set com.example.interop.authBasics)" in consent.text
    assert f"which allows: Create records of type {ALLOWED}" in consent.text
    assert "com.example.other.thing" not in consent.text


@pytest.mark.parametrize("case", ["no-such-record", "no-dns-record", "wrong-id", "not-a-set", "forged"])
def test_unresolvable_set_is_refused_at_par(pds, net, authority, site, case):
    nsid = {"no-such-record": "com.example.interop.authMissing", "no-dns-record": "org.nowhere.example.authAll",
            "wrong-id": "com.example.interop.authWrongId", "not-a-set": "com.example.interop.notASet",
            "forged": "com.example.interop.authForged"}[case]
    if case == "forged":
        # A well-formed set whose repository commit is signed by a key the authority's DID
        # document does not name: the proof fails, so the set does not resolve.
        authority.publish(permission_set(nsid, [{"type": "permission", "resource": "repo", "collection": [ALLOWED]}]))
        authority.forged_by = new_private_key()
    if case == "wrong-id":
        # A record published at this NSID's key that claims to be another schema.
        with authority.lock:
            authority.schemas[nsid] = dict(permission_set(SET, []), **{"$type": "com.atproto.lexicon.schema"})
    if case == "not-a-set":
        authority.publish({"lexicon": 1, "id": nsid, "defs": {"main": {"type": "record", "key": "tid",
                                                                       "record": {"type": "object", "properties": {}}}}})
    scope = f"atproto include:{nsid}"
    client = RawClient(pds.url, site.client(f"unresolvable-{case}", scope=scope))
    try:
        response, _, _ = client.par(scope=scope)
    finally:
        authority.forged_by = None
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_scope" and body.get("error_description"), body
    assert response.headers.get("DPoP-Nonce")
    if case == "forged":
        assert nsid in authority.fetches
        # Signed by the authority's own key, the same record resolves.
        response, _, _ = client.par(scope=scope)
        assert response.status_code == 201, response.text


def test_stand_ins_saw_nothing_wrong(pds, net, authority):
    assert net.failures() == []
    assert authority.failures == []

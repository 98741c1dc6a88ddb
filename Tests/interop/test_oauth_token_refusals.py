"""OAuth refusals at the token endpoint (RFC 6749 §5.2, RFC 9449 §5) and the resource server
(RFC 9449 §7, RFC 6750 §3), and the scope rules of the atproto permission spec on XRPC methods."""

import time

import pytest
import requests

from oauth_support import TIMEOUT, ClientSite, RawClient, new_key, proof
from test_oauth_refusals import SCOPE, grant, oauth_error, rs_error, tokens, xrpc_error


@pytest.fixture(scope="module")
def site():
    site = ClientSite()
    yield site
    site.close()


@pytest.fixture(scope="module")
def issuer(server):
    return server.url


@pytest.fixture(scope="module")
def client_id(site):
    return site.client("token-refusals", scope=SCOPE)


def post_record(client, access, did, collection="app.bsky.feed.post", **proof_overrides):
    body = {"repo": did, "collection": collection,
            "record": {"$type": collection, "text": "x", "createdAt": "2026-01-01T00:00:00.000Z"}}
    return client.resource("POST", "com.atproto.repo.createRecord", access, body=body, **proof_overrides)


# --- Token endpoint -----------------------------------------------------------------------------------

def test_code_reuse_is_refused_and_revokes_what_it_issued(server, issuer, client_id, did):
    client = RawClient(issuer, client_id)
    code, verifier = grant(server, client)
    first = client.token(grant_type="authorization_code", code=code, code_verifier=verifier)
    assert first.status_code == 200, first.text
    access = first.json()["access_token"]
    assert post_record(client, access, did).status_code == 200
    oauth_error(client.token(grant_type="authorization_code", code=code, code_verifier=verifier), 400, "invalid_grant")
    rs_error(post_record(client, access, did), "invalid_token")
    oauth_error(client.token(grant_type="refresh_token", refresh_token=first.json()["refresh_token"]), 400, "invalid_grant")


@pytest.mark.parametrize("case", ["wrong-verifier", "verifier-of-another-flow", "redirect-mismatch", "other-dpop-key", "other-client",
                                  "no-verifier"])
def test_code_exchange_refusals(server, issuer, client_id, site, case):
    client = RawClient(issuer, client_id)
    code, verifier = grant(server, client)
    owner = RawClient(issuer, client_id, key=client.key)
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    expected = "invalid_grant"
    if case == "wrong-verifier":
        form["code_verifier"] = verifier[:-2] + ("aa" if not verifier.endswith("aa") else "bb")
    elif case == "verifier-of-another-flow":
        _, other_verifier = grant(server, client)
        form["code_verifier"] = other_verifier
    elif case == "redirect-mismatch":
        form["redirect_uri"] = site.origin + "/elsewhere"
    elif case == "other-dpop-key":
        client = RawClient(issuer, client_id)
    elif case == "other-client":
        client = RawClient(issuer, site.client("token-refusals-other", scope=SCOPE), key=client.key)
    elif case == "no-verifier":
        del form["code_verifier"]
        expected = "invalid_request"
    oauth_error(client.token(**form), 400, expected)
    # A refused exchange consumes nothing: the client that asked for the code can still use it.
    right = owner.token(grant_type="authorization_code", code=code, code_verifier=verifier)
    assert right.status_code == 200, right.text


def test_refresh_refusals(server, issuer, client_id):
    client = RawClient(issuer, client_id)
    body = tokens(server, client)
    thief = RawClient(issuer, client_id)  # same client id, another DPoP key
    oauth_error(thief.token(grant_type="refresh_token", refresh_token=body["refresh_token"]), 400, "invalid_grant")
    rotated = client.token(grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    next_refresh = rotated.json()["refresh_token"]
    # The old token again: refused, and the whole session ends (the rotated token dies too).
    oauth_error(client.token(grant_type="refresh_token", refresh_token=body["refresh_token"]), 400, "invalid_grant")
    oauth_error(client.token(grant_type="refresh_token", refresh_token=next_refresh), 400, "invalid_grant")


@pytest.mark.parametrize("form, error", [
    ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
    ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
    ({}, "invalid_request"),
    ({"grant_type": "authorization_code", "code": "cod-forged", "code_verifier": "x" * 43}, "invalid_grant"),
    ({"grant_type": "refresh_token", "refresh_token": "ort-forged"}, "invalid_grant"),
], ids=["password-grant", "client-credentials", "no-grant-type", "forged-code", "forged-refresh"])
def test_token_request_refusals(issuer, client_id, form, error):
    oauth_error(RawClient(issuer, client_id).token(**form), 400, error)


def test_token_endpoint_dpop_refusals(issuer, client_id):
    client = RawClient(issuer, client_id)
    response = client.http.post(issuer + "/oauth/token", data={"client_id": client_id, "grant_type": "refresh_token",
                                                                "refresh_token": "x"}, timeout=TIMEOUT)
    oauth_error(response, 400, "invalid_dpop_proof")
    response = client.http.post(issuer + "/oauth/token", data={"client_id": client_id, "grant_type": "refresh_token", "refresh_token": "x"},
                                headers={"DPoP": proof(client.key, "POST", issuer + "/oauth/token")}, timeout=TIMEOUT)
    oauth_error(response, 400, "use_dpop_nonce")


def test_revocation(server, issuer, client_id, did):
    client = RawClient(issuer, client_id)
    oauth_error(client.post("/oauth/revoke", {"client_id": client_id}), 400, "invalid_request")
    # RFC 7009 §2.2: an unknown token is not an error; a revoked access token stops working at once.
    assert client.post("/oauth/revoke", {"token": "oat-unknown", "client_id": client_id}).status_code == 200
    body = tokens(server, client)
    revoked = requests.post(issuer + "/oauth/revoke", data={"token": body["access_token"], "client_id": client_id}, timeout=TIMEOUT)
    assert revoked.status_code == 200  # accepted without DPoP too
    rs_error(post_record(client, body["access_token"], did), "invalid_token")


# --- Resource server ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def session_tokens(server, issuer, client_id):
    client = RawClient(issuer, client_id)
    return client, tokens(server, client)


def test_bearer_instead_of_dpop(server, session_tokens):
    _, body = session_tokens
    response = server.get("com.atproto.server.getSession", token=body["access_token"])
    xrpc_error(response, 401, "InvalidToken")


@pytest.mark.parametrize("case", ["no-proof", "wrong-ath", "wrong-htu", "wrong-htm", "other-key", "old-iat"])
def test_resource_request_with_a_bad_proof(server, session_tokens, did, case):
    client, body = session_tokens
    access = body["access_token"]
    url = f"{client.issuer}/xrpc/com.atproto.repo.createRecord"
    nonce = client.nonce or client.fresh_nonce()
    headers = {"Authorization": f"DPoP {access}"}
    if case != "no-proof":
        headers["DPoP"] = {
            "wrong-ath": lambda: proof(client.key, "POST", url, nonce=nonce, access_token="another-token"),
            "wrong-htu": lambda: proof(client.key, "POST", url, nonce=nonce, access_token=access, htu=client.issuer + "/xrpc/other.method.name"),
            "wrong-htm": lambda: proof(client.key, "GET", url, nonce=nonce, access_token=access),
            "other-key": lambda: proof(new_key(), "POST", url, nonce=nonce, access_token=access),
            "old-iat": lambda: proof(client.key, "POST", url, nonce=nonce, access_token=access, iat=time.time() - 3600),
        }[case]()
    response = requests.post(url, json={"repo": did, "collection": "app.bsky.feed.post", "record": {}}, headers=headers, timeout=TIMEOUT)
    rs_error(response, "invalid_dpop_proof")


def test_resource_request_nonce_rules(server, session_tokens, did):
    client, body = session_tokens
    access = body["access_token"]
    rs_error(post_record(client, access, did, nonce="stale-nonce"), "use_dpop_nonce")
    url = f"{client.issuer}/xrpc/com.atproto.server.getSession"
    response = requests.get(url, headers={"Authorization": f"DPoP {access}", "DPoP": proof(client.key, "GET", url, access_token=access)},
                            timeout=TIMEOUT)
    rs_error(response, "use_dpop_nonce")
    # Retrying with the nonce it was given works, and the same proof a second time is a replay.
    retry = proof(client.key, "GET", url, access_token=access, nonce=response.headers["DPoP-Nonce"])
    assert requests.get(url, headers={"Authorization": f"DPoP {access}", "DPoP": retry}, timeout=TIMEOUT).status_code == 200
    rs_error(requests.get(url, headers={"Authorization": f"DPoP {access}", "DPoP": retry}, timeout=TIMEOUT), "invalid_dpop_proof")


def test_atproto_alone_is_identity_only(server, issuer, client_id, did):
    client = RawClient(issuer, client_id)
    body = tokens(server, client, scope="atproto")
    session = client.resource("GET", "com.atproto.server.getSession", body["access_token"])
    assert session.status_code == 200 and session.json()["did"] == did
    assert "email" not in session.json()
    xrpc_error(post_record(client, body["access_token"], did), 403, "ScopeMissingError")
    xrpc_error(client.resource("GET", "app.bsky.actor.getPreferences", body["access_token"]), 403, "ScopeMissingError")
    xrpc_error(client.resource("GET", "com.atproto.server.getServiceAuth", body["access_token"],
                               params={"aud": "did:web:api.example.com#svc", "lxm": "app.example.method.name"}), 403, "ScopeMissingError")


def test_granular_repo_permission(server, issuer, client_id, did):
    client = RawClient(issuer, client_id)
    body = tokens(server, client, scope="atproto repo:com.example.interop.thing")
    xrpc_error(post_record(client, body["access_token"], did), 403, "ScopeMissingError")
    allowed = post_record(client, body["access_token"], did, collection="com.example.interop.thing")
    assert allowed.status_code == 200, allowed.text


def test_oauth_credentials_refused_on_account_management(server, session_tokens):
    client, body = session_tokens
    access = body["access_token"]
    xrpc_error(client.resource("POST", "com.atproto.server.createAppPassword", access, body={"name": "nope"}), 403, "Forbidden")
    xrpc_error(client.resource("GET", "com.atproto.server.listAppPasswords", access), 403, "Forbidden")
    xrpc_error(client.resource("POST", "com.atproto.server.revokeAppPassword", access, body={"name": "nope"}), 403, "Forbidden")
    xrpc_error(client.resource("POST", "com.atproto.identity.signPlcOperation", access, body={}), 403, "ScopeMissingError")


def test_transition_email_shows_the_email(server, issuer, client_id, did):
    client = RawClient(issuer, client_id)
    body = tokens(server, client, scope="atproto transition:email")
    session = client.resource("GET", "com.atproto.server.getSession", body["access_token"])
    assert session.status_code == 200
    password_session = server.get("com.atproto.server.getSession", token=server.create_session()["accessJwt"]).json()
    assert session.json().get("email") == password_session.get("email")

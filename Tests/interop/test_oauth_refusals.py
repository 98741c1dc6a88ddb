"""OAuth refusals: each case names what is wrong and checks the exact error the specifications give
(RFC 6749 §5.2, RFC 9126 §2.3, RFC 9449 §5/§7/§8/§9, RFC 7523, atproto OAuth profile). Requests are
written out by hand (joserfc proofs and assertions) so that every field can be made wrong.
"""

import time
import uuid

import pytest
import requests

from oauth_support import (TIMEOUT, ClientSite, RawClient, approve_with_forms, callback_params, client_assertion, hidden_fields,
                           hmac_proof, new_key, pkce_pair, proof, public_jwk)

SCOPE = "atproto transition:generic transition:email repo:com.example.interop.thing"


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
    return site.client("refusals", scope=SCOPE)


@pytest.fixture(scope="module")
def confidential(site):
    key = new_key("conf-1")
    return site.client("refusals-confidential", confidential=True, jwks=[public_jwk(key)]), key


def oauth_error(response, status, error):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert body.get("error_description")
    assert response.headers.get("DPoP-Nonce")
    return body


def rs_error(response, error, status=401):
    assert response.status_code == status, response.text
    assert f'error="{error}"' in response.headers["WWW-Authenticate"]
    assert response.headers["WWW-Authenticate"].startswith("DPoP ")
    assert response.headers.get("DPoP-Nonce")
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == error


def xrpc_error(response, status, error):
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text


def grant(server, client, scope="atproto transition:generic"):
    """A fresh code and tokens for `client` (signed in and approved through the pages with plain HTTP)."""
    response, verifier, form = client.par(scope=scope)
    assert response.status_code == 201, response.text
    location = approve_with_forms(client.authorize_url(response.json()["request_uri"]), client.issuer, server.handle, server.password)
    params = callback_params(location)
    assert params["state"] == form["state"] and params["iss"] == client.issuer
    return params["code"], verifier


def tokens(server, client, scope="atproto transition:generic"):
    code, verifier = grant(server, client, scope)
    response = client.token(grant_type="authorization_code", code=code, code_verifier=verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP" and body["scope"] == scope and body["sub"].startswith("did:")
    return body


# --- PAR: DPoP proofs (RFC 9449 §4.3, §8) ------------------------------------------------------------

def par_form(client_id, **changes):
    _, challenge = pkce_pair()
    form = {"client_id": client_id, "response_type": "code", "code_challenge": challenge, "code_challenge_method": "S256",
            "state": "s", "scope": "atproto"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_par_without_dpop(issuer, client_id):
    oauth_error(requests.post(issuer + "/oauth/par", data=par_form(client_id), timeout=TIMEOUT), 400, "invalid_dpop_proof")


def test_par_proof_without_nonce_asks_for_one(issuer, client_id):
    key = new_key()
    response = requests.post(issuer + "/oauth/par", data=par_form(client_id), headers={"DPoP": proof(key, "POST", issuer + "/oauth/par")},
                             timeout=TIMEOUT)
    oauth_error(response, 400, "use_dpop_nonce")


def test_par_stale_nonce(issuer, client_id):
    key = new_key()
    response = requests.post(issuer + "/oauth/par", data=par_form(client_id),
                             headers={"DPoP": proof(key, "POST", issuer + "/oauth/par", nonce="not-a-current-nonce")}, timeout=TIMEOUT)
    oauth_error(response, 400, "use_dpop_nonce")


@pytest.mark.parametrize("case", ["wrong_htm", "wrong_htu", "old_iat", "future_iat", "jwt_typ", "other_key", "hs256", "private_jwk"])
def test_par_bad_proof(issuer, client_id, case):
    client = RawClient(issuer, client_id)
    nonce = client.fresh_nonce()
    url = issuer + "/oauth/par"
    key, other = client.key, new_key()
    made = {
        "wrong_htm": lambda: proof(key, "GET", url, nonce=nonce),
        "wrong_htu": lambda: proof(key, "POST", url, nonce=nonce, htu=issuer + "/oauth/token"),
        "old_iat": lambda: proof(key, "POST", url, nonce=nonce, iat=time.time() - 3600),
        "future_iat": lambda: proof(key, "POST", url, nonce=nonce, iat=time.time() + 3600),
        "jwt_typ": lambda: proof(key, "POST", url, nonce=nonce, typ="JWT"),
        "other_key": lambda: proof(key, "POST", url, nonce=nonce, sign_key=other),
        "hs256": lambda: hmac_proof("POST", url),
        "private_jwk": lambda: proof(key, "POST", url, nonce=nonce, jwk=key.as_dict(private=True)),
    }[case]()
    response = client.http.post(url, data=par_form(client_id), headers={"DPoP": made}, timeout=TIMEOUT)
    oauth_error(response, 400, "invalid_dpop_proof")


def test_par_replayed_jti(issuer, client_id):
    client = RawClient(issuer, client_id)
    jti = "replayed-" + str(uuid.uuid4())
    first = client.post("/oauth/par", par_form(client_id), jti=jti)
    assert first.status_code == 201, first.text
    again = client.post("/oauth/par", par_form(client_id), jti=jti)
    oauth_error(again, 400, "invalid_dpop_proof")


def test_par_dpop_jkt_of_another_key(issuer, client_id):
    client = RawClient(issuer, client_id)
    other = new_key()
    response = client.post("/oauth/par", par_form(client_id, dpop_jkt=other.thumbprint()))
    oauth_error(response, 400, "invalid_dpop_proof")


# --- PAR: request parameters -------------------------------------------------------------------------

@pytest.mark.parametrize("changes, error", [
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
    ({"state": None}, "invalid_request"),
    ({"redirect_uri": "http://127.0.0.1:1/not-registered"}, "invalid_request"),
    ({"scope": SCOPE + " transition:chat.bsky"}, "invalid_scope"),
    ({"scope": "transition:generic"}, "invalid_scope"),
    ({"scope": "atproto repo:not-an-nsid"}, "invalid_scope"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_mode": "form_post"}, "invalid_request"),
    ({"client_secret": "s3cret"}, "invalid_client"),
], ids=["plain-pkce", "no-challenge", "bad-challenge", "no-state", "redirect-mismatch", "scope-beyond-client", "no-atproto",
        "malformed-scope", "implicit", "form-post", "client-secret"])
def test_par_bad_request(issuer, client_id, changes, error):
    client = RawClient(issuer, client_id)
    oauth_error(client.post("/oauth/par", par_form(client_id, **changes)), 401 if error == "invalid_client" else 400, error)


def test_par_reused_code_challenge(issuer, client_id):
    client = RawClient(issuer, client_id)
    form = par_form(client_id)
    assert client.post("/oauth/par", form).status_code == 201
    oauth_error(client.post("/oauth/par", form), 400, "invalid_request")


def test_par_repeated_parameter_and_json_body(issuer, client_id):
    client = RawClient(issuer, client_id)
    nonce = client.fresh_nonce()
    url = issuer + "/oauth/par"
    body = "&".join(f"{k}={v}" for k, v in par_form(client_id).items()) + "&state=again"
    response = client.http.post(url, data=body, headers={"DPoP": proof(client.key, "POST", url, nonce=nonce),
                                                         "Content-Type": "application/x-www-form-urlencoded"}, timeout=TIMEOUT)
    oauth_error(response, 400, "invalid_request")
    response = client.http.post(url, json=par_form(client_id), headers={"DPoP": proof(client.key, "POST", url, nonce=nonce)},
                                timeout=TIMEOUT)
    oauth_error(response, 400, "invalid_request")


# --- Client metadata documents (atproto OAuth "Client ID Metadata Document") ----------------------------

@pytest.mark.parametrize("case", ["missing", "too-large", "redirected", "html", "id-mismatch", "http-redirect-uri", "no-dpop",
                                  "jwks-and-uri"])
def test_bad_client_metadata(issuer, site, case):
    name = f"bad-{case}"
    client_id = f"{site.origin}/{name}.json"
    if case == "too-large":
        site.client(name, padding="x" * 70_000)
    elif case == "redirected":
        site.client("redirect-target")
        site.documents[f"/{name}.json"] = (302, "text/plain", b"", {"Location": f"{site.origin}/redirect-target.json"})
    elif case == "html":
        site.client(name)
        status, _, body, headers = site.documents[f"/{name}.json"]
        site.documents[f"/{name}.json"] = (status, "text/html", body, headers)
    elif case == "id-mismatch":
        site.client(name, client_id=f"{site.origin}/someone-else.json")
    elif case == "http-redirect-uri":
        site.client(name, redirect_uris=["http://app.example.com/callback"])
    elif case == "no-dpop":
        site.client(name, dpop_bound_access_tokens=False)
    elif case == "jwks-and-uri":
        site.client(name, confidential=True, jwks={"keys": [public_jwk(new_key())]})
    client = RawClient(issuer, client_id)
    oauth_error(client.post("/oauth/par", par_form(client_id)), 400, "invalid_client_metadata")


# --- Client authentication (RFC 7523, atproto private_key_jwt) ---------------------------------------

def test_public_client_must_not_send_an_assertion(issuer, client_id):
    client = RawClient(issuer, client_id, signing_key=new_key())
    oauth_error(client.post("/oauth/par", par_form(client_id)), 401, "invalid_client")


@pytest.mark.parametrize("case", ["none", "wrong-aud", "unknown-key", "old", "reused-jti"])
def test_confidential_client_assertion(issuer, confidential, case):
    client_id, key = confidential
    client = RawClient(issuer, client_id)
    form = par_form(client_id)
    if case != "none":
        signer = new_key("conf-1") if case == "unknown-key" else key
        audience = issuer + "/oauth/par" if case == "wrong-aud" else issuer
        iat = time.time() - 3600 if case == "old" else None
        jti = str(uuid.uuid4())
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = client_assertion(signer, client_id, audience, jti=jti, iat=iat)
        if case == "reused-jti":
            assert client.post("/oauth/par", form).status_code == 201
            form = dict(form, code_challenge=pkce_pair()[1])
    oauth_error(client.post("/oauth/par", form), 401, "invalid_client")


# --- The authorization endpoint -----------------------------------------------------------------------

def test_authorize_refuses_unknown_or_foreign_request_uris(server, issuer, client_id, site):
    client = RawClient(issuer, client_id)
    unknown = requests.get(issuer + "/oauth/authorize", params={"client_id": client_id, "request_uri": "urn:ietf:params:oauth:request_uri:req-nope"},
                           timeout=TIMEOUT)
    assert unknown.status_code == 400 and "text/html" in unknown.headers["Content-Type"]
    response, _, _ = client.par(scope="atproto")
    request_uri = response.json()["request_uri"]
    foreign = requests.get(issuer + "/oauth/authorize", params={"client_id": site.client("foreign"), "request_uri": request_uri},
                           timeout=TIMEOUT)
    assert foreign.status_code == 400
    # Used once, then gone.
    approve_with_forms(client.authorize_url(request_uri), issuer, server.handle, server.password)
    again = requests.get(client.authorize_url(request_uri), timeout=TIMEOUT)
    assert again.status_code == 400


def test_consent_and_sign_in_forms_need_their_csrf_tokens(server, issuer, client_id):
    client = RawClient(issuer, client_id)
    response, _, _ = client.par(scope="atproto")
    browser = requests.Session()
    page = browser.get(client.authorize_url(response.json()["request_uri"]), timeout=TIMEOUT)
    fields = hidden_fields(page.text)
    forged = dict(fields, csrf="forged", identifier=server.handle, password=server.password)
    assert browser.post(issuer + "/oauth/authorize", data=forged, timeout=TIMEOUT).status_code == 403
    fields.update(identifier=server.handle, password=server.password)
    consent = browser.post(issuer + "/oauth/authorize", data=fields, timeout=TIMEOUT)
    allow = dict(hidden_fields(consent.text), action="allow", csrf="forged")
    assert browser.post(issuer + "/oauth/authorize", data=allow, allow_redirects=False, timeout=TIMEOUT).status_code == 403


def test_wrong_password_on_the_sign_in_page(server, issuer, client_id):
    client = RawClient(issuer, client_id)
    response, _, _ = client.par(scope="atproto")
    browser = requests.Session()
    fields = hidden_fields(browser.get(client.authorize_url(response.json()["request_uri"]), timeout=TIMEOUT).text)
    page = browser.post(issuer + "/oauth/authorize", data=dict(fields, identifier=server.handle, password="wrong"), timeout=TIMEOUT)
    assert page.status_code == 401 and "Invalid identifier or password" in page.text
    assert "pds_session" not in browser.cookies


def test_denied_consent_goes_back_as_access_denied(server, issuer, client_id):
    client = RawClient(issuer, client_id)
    response, _, form = client.par(scope="atproto")
    location = approve_with_forms(client.authorize_url(response.json()["request_uri"]), issuer, server.handle, server.password, action="deny")
    params = callback_params(location)
    assert params["error"] == "access_denied" and params["state"] == form["state"] and params["iss"] == issuer


def test_pages_escape_what_the_client_says_and_set_safe_cookies(server, issuer, site):
    client_id = site.client("hostile-name", client_name='<script>alert("x")</script>&')
    client = RawClient(issuer, client_id)
    response, _, _ = client.par(scope="atproto")
    browser = requests.Session()
    page = browser.get(client.authorize_url(response.json()["request_uri"]), timeout=TIMEOUT)
    csrf_cookie = page.headers["Set-Cookie"]
    assert csrf_cookie.startswith("pds_csrf=") and "HttpOnly" in csrf_cookie and "SameSite=Lax" in csrf_cookie
    assert "Secure" not in csrf_cookie  # only on the loopback dev origin (http://)
    fields = dict(hidden_fields(page.text), identifier=server.handle, password=server.password)
    signed_in = browser.post(issuer + "/oauth/authorize", data=fields, allow_redirects=False, timeout=TIMEOUT)
    session_cookie = signed_in.headers["Set-Cookie"]
    assert session_cookie.startswith("pds_session=") and "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    consent = browser.get(signed_in.headers["Location"] if signed_in.headers["Location"].startswith("http")
                          else issuer + signed_in.headers["Location"], timeout=TIMEOUT)
    assert consent.status_code == 200
    assert "<script>" not in consent.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in consent.text
    assert "form-action 'self' " + site.origin in consent.headers["Content-Security-Policy"]

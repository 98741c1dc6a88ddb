"""Helpers for the OAuth tests: a loopback "client web site" (metadata documents, JWKS, the
redirect target), DPoP proofs made with joserfc, and a form driver for the sign-in and consent
pages when a test needs tokens but is not about the browser (the browser flows use Chromium).

The server under test runs with PDS_OAUTH_ALLOW_LOOPBACK_CLIENTS=1, so client ids may be
http://127.0.0.1:PORT/... documents served from here.
"""

import html
import json
import re
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import requests
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

TIMEOUT = 30


class ClientSite:
    """A tiny HTTP server standing in for an OAuth client's web site on 127.0.0.1.

    `documents[path] = (status, content_type, body_bytes, extra_headers)`; anything else is 404.
    `/callback` answers 200 so the browser has somewhere to land.
    """

    def __init__(self):
        self.documents = {}
        self.fetches = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                path = urlparse(self.path).path
                site.fetches.append(path)
                if path == "/callback":
                    body = b"<!doctype html><title>callback</title><p>signed in</p>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                status, content_type, body, headers = site.documents.get(path, (404, "text/plain", b"not found", {}))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()

    @property
    def callback(self):
        return self.origin + "/callback"

    def serve_json(self, path, document, status=200, content_type="application/json", headers=None):
        self.documents[path] = (status, content_type, json.dumps(document).encode(), headers or {})

    def client(self, name, scope="atproto transition:generic", confidential=False, jwks=None, **overrides):
        """Publishes a client metadata document at /<name>.json and returns its client_id."""
        client_id = f"{self.origin}/{name}.json"
        document = {
            "client_id": client_id,
            "client_name": f"Interop {name}",
            "application_type": "web",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": scope,
            "redirect_uris": [self.callback],
            "token_endpoint_auth_method": "private_key_jwt" if confidential else "none",
            "dpop_bound_access_tokens": True,
        }
        if confidential:
            document["token_endpoint_auth_signing_alg"] = "ES256"
            document["jwks_uri"] = f"{self.origin}/{name}-jwks.json"
            self.serve_json(f"/{name}-jwks.json", {"keys": jwks or []})
        document.update(overrides)
        self.serve_json(f"/{name}.json", document)
        return client_id


def new_key(kid=None):
    key = ECKey.generate_key("P-256", private=True)
    if kid:
        key = ECKey.import_key(dict(key.as_dict(private=True), kid=kid))
    return key


def public_jwk(key):
    return {k: v for k, v in key.as_dict(private=False).items() if k in ("kty", "crv", "x", "y", "kid")}


def proof(key, method, url, nonce=None, access_token=None, jti=None, iat=None, typ="dpop+jwt", jwk=None, alg="ES256",
          sign_key=None, htu=None):
    """A DPoP proof (RFC 9449 §4.2), with every part overridable to build refusal cases."""
    claims = {"jti": jti or str(uuid.uuid4()), "htm": method, "htu": htu or url, "iat": int(iat if iat is not None else time.time())}
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        import base64
        import hashlib
        digest = hashlib.sha256(access_token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    header = {"typ": typ, "alg": alg, "jwk": jwk or public_jwk(key)}
    return jwt.encode(header, claims, sign_key or key, algorithms=[alg])


def hmac_proof(method, url):
    key = OctKey.generate_key(256)
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct"}}
    return jwt.encode(header, {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}, key, algorithms=["HS256"])


def client_assertion(key, client_id, audience, jti=None, iat=None):
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti or str(uuid.uuid4()),
              "iat": int(iat if iat is not None else time.time())}
    header = {"alg": "ES256"}
    kid = key.as_dict(private=False).get("kid")
    if kid:
        header["kid"] = kid
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def pkce_pair():
    import base64
    import hashlib
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class RawClient:
    """An OAuth client written out by hand (for refusal cases and token setup): every request
    carries a proof from `key`, with the server's current nonce unless told otherwise."""

    def __init__(self, issuer, client_id, key=None, signing_key=None):
        self.issuer = issuer
        self.client_id = client_id
        self.key = key or new_key()
        self.signing_key = signing_key
        self.http = requests.Session()
        self.nonce = None

    def fresh_nonce(self):
        response = self.http.post(self.issuer + "/oauth/par", data={}, timeout=TIMEOUT)
        self.nonce = response.headers["DPoP-Nonce"]
        return self.nonce

    def post(self, path, form, dpop=True, nonce=None, **proof_overrides):
        headers = {}
        if dpop:
            headers["DPoP"] = proof(self.key, "POST", self.issuer + path, nonce=nonce or self.nonce or self.fresh_nonce(),
                                    **proof_overrides)
        form = dict(form)
        if self.signing_key is not None and "client_assertion" not in form:
            form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            form["client_assertion"] = client_assertion(self.signing_key, self.client_id, self.issuer)
        return self.http.post(self.issuer + path, data=form, headers=headers, timeout=TIMEOUT)

    def par(self, scope="atproto transition:generic", redirect_uri=None, challenge=None, **extra):
        verifier, default_challenge = pkce_pair()
        form = {"client_id": self.client_id, "response_type": "code", "code_challenge": challenge or default_challenge,
                "code_challenge_method": "S256", "state": secrets.token_urlsafe(12), "scope": scope}
        if redirect_uri:
            form["redirect_uri"] = redirect_uri
        form.update(extra)
        form = {k: v for k, v in form.items() if v is not None}
        return self.post("/oauth/par", form), verifier, form

    def authorize_url(self, request_uri):
        return requests.Request("GET", self.issuer + "/oauth/authorize",
                                params={"client_id": self.client_id, "request_uri": request_uri}).prepare().url

    def token(self, **form):
        return self.post("/oauth/token", dict(client_id=self.client_id, **form))

    def resource(self, method, nsid, access_token, body=None, params=None, **proof_overrides):
        url = f"{self.issuer}/xrpc/{nsid}"
        headers = {"Authorization": f"DPoP {access_token}"}
        headers["DPoP"] = proof(self.key, method, url, nonce=proof_overrides.pop("nonce", self.nonce or self.fresh_nonce()),
                                access_token=proof_overrides.pop("ath_token", access_token), **proof_overrides)
        return self.http.request(method, url, json=body, params=params, headers=headers, timeout=TIMEOUT)


def hidden_fields(page):
    return {html.unescape(name): html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)}


def approve_with_forms(authorize_url, issuer, handle, password, browser=None, action="allow"):
    """Signs in and answers the consent page with plain HTTP forms; returns the redirect Location."""
    browser = browser or requests.Session()
    page = browser.get(authorize_url, timeout=TIMEOUT)
    if "/callback?" in page.url:  # silently approved (confidential client, remembered consent)
        return page.url
    assert page.status_code == 200, page.text
    fields = hidden_fields(page.text)
    if fields.get("action") == "signin":
        fields.update(identifier=handle, password=password)
        page = browser.post(issuer + "/oauth/authorize", data=fields, timeout=TIMEOUT)
        if "/callback?" in page.url:
            return page.url
        assert page.status_code == 200, page.text
        fields = hidden_fields(page.text)
    fields.update(action=action, remember="1")
    answer = browser.post(issuer + "/oauth/authorize", data=fields, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, answer.text
    return answer.headers["Location"]


def callback_params(location):
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}

"""Forged and malformed bearer tokens are refused: 401 InvalidToken (conftest.INVALID_TOKEN_STATUS)."""

import base64
import hashlib
import hmac
import time

import pytest

from conftest import assert_invalid_token, assert_xrpc_error, b64url, jwt_parts


def _forge(token, header=None, payload=None, signature=None):
    """`token` with its header, payload and/or signature segments replaced."""
    parts = token.split(".")
    if header is not None:
        parts[0] = b64url(header)
    if payload is not None:
        parts[1] = b64url(payload)
    if signature is not None:
        parts[2] = signature
    return ".".join(parts)


def _hs256(header, payload, key):
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def _flip_first_char(text):
    return ("A" if text[0] != "A" else "B") + text[1:]


def _claims(token, **changes):
    return dict(jwt_parts(token)[1], **changes)


# name -> how to forge it from a valid access token
FORGERIES = {
    "payload-sub-changed": lambda t: _forge(t, payload=_claims(t, sub="did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")),
    "payload-exp-extended": lambda t: _forge(t, payload=_claims(t, exp=_claims(t)["exp"] + 3600)),
    "payload-scope-changed": lambda t: _forge(t, payload=_claims(t, scope="com.atproto.appPassPrivileged")),
    "signature-flipped": lambda t: _forge(t, signature=_flip_first_char(t.split(".")[2])),
    "signature-empty": lambda t: _forge(t, signature=""),
    "signature-not-base64": lambda t: _forge(t, signature="!!!"),
    "alg-none": lambda t: _forge(t, header={"typ": "at+jwt", "alg": "none"}, signature=""),
    "alg-none-keeping-signature": lambda t: _forge(t, header={"typ": "at+jwt", "alg": "none"}),
    "alg-hs512-header": lambda t: _forge(t, header={"typ": "at+jwt", "alg": "HS512"}),
    "typ-jwt-header": lambda t: _forge(t, header={"typ": "JWT", "alg": "HS256"}),
    "wrong-key": lambda t: _hs256(jwt_parts(t)[0], jwt_parts(t)[1], b"not the server secret"),
    "empty-key": lambda t: _hs256(jwt_parts(t)[0], jwt_parts(t)[1], b""),
    "two-segments": lambda t: ".".join(t.split(".")[:2]),
    "four-segments": lambda t: t + ".xyz",
    "garbage": lambda t: "not-a-jwt",
    "header-not-json": lambda t: ".".join([b64url(b"{not json")] + t.split(".")[1:]),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_access_token_is_refused(server, token, name):
    response = server.get("com.atproto.server.getSession", token=FORGERIES[name](token))
    assert_invalid_token(response)


@pytest.mark.parametrize("name", ["payload-sub-changed", "alg-none", "wrong-key"])
def test_forged_token_cannot_write(server, token, did, name):
    response = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": "app.bsky.feed.post",
        "record": {"text": "forged", "createdAt": "2026-01-01T00:00:00.000Z"},
    }, token=FORGERIES[name](token))
    assert_invalid_token(response)


def test_forged_refresh_token_is_refused(server, session):
    refresh = session["refreshJwt"]
    header, payload = jwt_parts(refresh)
    forged = _forge(refresh, payload=dict(payload, jti="chosen-by-attacker"))
    assert_invalid_token(server.post("com.atproto.server.refreshSession", token=forged))
    forged = _forge(refresh, header={"typ": "refresh+jwt", "alg": "none"}, signature="")
    assert_invalid_token(server.post("com.atproto.server.refreshSession", token=forged))


def test_missing_authorization_header(server):
    response = server.get("com.atproto.server.getSession")
    assert_xrpc_error(response, 401, "AuthMissing")
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_non_bearer_authorization(server, token):
    basic = base64.b64encode(b"admin:password").decode()
    response = server.get("com.atproto.server.getSession", headers={"Authorization": f"Basic {basic}"})
    assert_invalid_token(response)


def test_token_still_valid_after_forgery_attempts(server, token):
    """The real token keeps working (forgeries did not poison anything)."""
    response = server.get("com.atproto.server.getSession", token=token)
    assert response.status_code == 200, response.text
    _, payload = jwt_parts(token)
    assert payload["exp"] > time.time()

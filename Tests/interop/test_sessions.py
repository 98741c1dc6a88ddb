"""Password sessions, app passwords, refresh and logout, with the atproto SDK and raw HTTP."""

import re
import time

import pytest
from atproto import Client, SessionEvent
from atproto.exceptions import BadRequestError, UnauthorizedError

from conftest import assert_invalid_token, assert_sdk_error, assert_xrpc_error, jwt_parts, unique

APP_PASSWORD_FORMAT = re.compile(r"^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$")


def test_describe_server(server, blob_limit):
    response = server.get("com.atproto.server.describeServer")
    assert response.status_code == 200
    body = response.json()
    assert body["did"] == "did:web:127.0.0.1"
    assert body["availableUserDomains"] == [".127.0.0.1"]
    assert body["blobUploadLimit"] == blob_limit
    assert isinstance(body["inviteCodeRequired"], bool)


def test_sdk_password_login(server):
    client = Client(base_url=server.url)
    assert client.login(server.handle, server.password, fetch_bsky_profile=False) is None
    session = client.com.atproto.server.get_session()
    assert session.handle == server.handle
    assert session.did.startswith("did:plc:")
    assert session.active is True


def test_login_by_did_and_upper_case_handle(server, session):
    by_did = server.create_session(identifier=session["did"])
    assert by_did["did"] == session["did"]
    by_handle = server.create_session(identifier=server.handle.upper())
    assert by_handle["handle"] == server.handle


def test_session_tokens_have_the_reference_shape(session):
    access_header, access = jwt_parts(session["accessJwt"])
    refresh_header, refresh = jwt_parts(session["refreshJwt"])
    assert access_header == {"typ": "at+jwt", "alg": "HS256"}
    assert refresh_header == {"typ": "refresh+jwt", "alg": "HS256"}
    assert access["scope"] == "com.atproto.access"
    assert refresh["scope"] == "com.atproto.refresh"
    assert access["sub"] == refresh["sub"] == session["did"]
    assert access["aud"] == "did:web:127.0.0.1"
    assert access["exp"] - access["iat"] == 7200
    assert refresh["exp"] - refresh["iat"] == 90 * 24 * 3600
    assert refresh["jti"]


def test_wrong_password_is_refused(server):
    response = server.post("com.atproto.server.createSession", {"identifier": server.handle, "password": "wrong"})
    assert_xrpc_error(response, 401, "AuthenticationRequired")
    response = server.post("com.atproto.server.createSession", {"identifier": "bob.test", "password": server.password})
    assert_xrpc_error(response, 401, "AuthenticationRequired")


def test_app_password_lifecycle(server, client, did):
    name = unique("interop-")
    created = client.com.atproto.server.create_app_password({"name": name})
    assert created.name == name
    assert APP_PASSWORD_FORMAT.match(created.password), created.password
    assert created.privileged is False
    listed = client.com.atproto.server.list_app_passwords()
    assert name in [entry.name for entry in listed.passwords]
    assert all(not hasattr(entry, "password") or entry.password is None for entry in listed.passwords)

    # Log in with it through the SDK: the session is an app-password session.
    app_client = Client(base_url=server.url)
    app_client.login(server.handle, created.password, fetch_bsky_profile=False)
    app_session = app_client.com.atproto.server.get_session()
    assert app_session.did == did
    raw = server.create_session(password=created.password)
    assert jwt_parts(raw["accessJwt"])[1]["scope"] == "com.atproto.appPass"

    # It may write records...
    post = app_client.com.atproto.repo.create_record({"repo": did, "collection": "app.bsky.feed.post", "record": {
        "$type": "app.bsky.feed.post", "text": f"written with an app password {name}",
        "createdAt": app_client.get_current_time_iso()}})
    assert post.uri.startswith(f"at://{did}/app.bsky.feed.post/")

    # ...but not manage app passwords.
    with pytest.raises(BadRequestError) as excinfo:
        app_client.com.atproto.server.create_app_password({"name": unique("nested-")})
    assert_sdk_error(excinfo, 400, "InvalidToken")
    assert excinfo.value.response.content.message == "Bad token scope"
    with pytest.raises(BadRequestError) as excinfo:
        app_client.com.atproto.server.revoke_app_password({"name": name})
    assert_sdk_error(excinfo, 400, "InvalidToken")
    assert excinfo.value.response.content.message == "Bad token scope"
    assert name in [entry.name for entry in client.com.atproto.server.list_app_passwords().passwords]

    # The same name twice is refused.
    with pytest.raises(BadRequestError) as excinfo:
        client.com.atproto.server.create_app_password({"name": name})
    assert_sdk_error(excinfo, 400, "InvalidRequest")

    # Revoked: it no longer logs in.
    client.com.atproto.server.revoke_app_password({"name": name})
    assert name not in [entry.name for entry in client.com.atproto.server.list_app_passwords().passwords]
    with pytest.raises(UnauthorizedError) as excinfo:
        Client(base_url=server.url).login(server.handle, created.password, fetch_bsky_profile=False)
    assert_sdk_error(excinfo, 401, "AuthenticationRequired")


def test_revoking_an_app_password_ends_its_sessions(server, client):
    """Reference: revokeAppPassword deletes the refresh tokens issued for that app password."""
    name = unique("revoked-")
    password = client.com.atproto.server.create_app_password({"name": name}).password
    app_session = server.create_session(password=password)
    client.com.atproto.server.revoke_app_password({"name": name})
    response = server.post("com.atproto.server.refreshSession", token=app_session["refreshJwt"])
    assert_xrpc_error(response, 400, "ExpiredToken")


def test_privileged_app_password_scope(server, client):
    name = unique("privileged-")
    created = client.com.atproto.server.create_app_password({"name": name, "privileged": True})
    assert created.privileged is True
    raw = server.create_session(password=created.password)
    assert jwt_parts(raw["accessJwt"])[1]["scope"] == "com.atproto.appPassPrivileged"
    # A refresh keeps the privilege level.
    refreshed = server.post("com.atproto.server.refreshSession", token=raw["refreshJwt"]).json()
    assert jwt_parts(refreshed["accessJwt"])[1]["scope"] == "com.atproto.appPassPrivileged"
    client.com.atproto.server.revoke_app_password({"name": name})


def test_sdk_refresh(server):
    client = server.sdk_client()
    refresh_jwt = client._session.refresh_jwt
    refreshed = client.com.atproto.server.refresh_session(headers={"Authorization": f"Bearer {refresh_jwt}"})
    assert refreshed.refresh_jwt != refresh_jwt
    assert refreshed.handle == server.handle
    # The new access token works.
    session = client.com.atproto.server.get_session(headers={"Authorization": f"Bearer {refreshed.access_jwt}"})
    assert session.did == refreshed.did


def test_raw_refresh_rotates_with_grace(server, session):
    first = server.post("com.atproto.server.refreshSession", token=session["refreshJwt"])
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["did"] == session["did"] and rotated["handle"] == server.handle
    assert rotated["refreshJwt"] != session["refreshJwt"]
    assert server.get("com.atproto.server.getSession", token=rotated["accessJwt"]).status_code == 200

    # Within the grace period the old refresh token still works and yields the same successor.
    again = server.post("com.atproto.server.refreshSession", token=session["refreshJwt"])
    assert again.status_code == 200, again.text
    assert jwt_parts(again.json()["refreshJwt"])[1]["jti"] == jwt_parts(rotated["refreshJwt"])[1]["jti"]

    # The successor rotates in turn.
    second = server.post("com.atproto.server.refreshSession", token=rotated["refreshJwt"])
    assert second.status_code == 200, second.text


def test_tokens_are_not_interchangeable(server, session):
    response = server.post("com.atproto.server.refreshSession", token=session["accessJwt"])
    assert_invalid_token(response)
    response = server.get("com.atproto.server.getSession", token=session["refreshJwt"])
    assert_invalid_token(response)


def test_delete_session_revokes_the_refresh_token(server, session):
    response = server.post("com.atproto.server.deleteSession", token=session["refreshJwt"])
    assert response.status_code == 200, response.text
    response = server.post("com.atproto.server.refreshSession", token=session["refreshJwt"])
    assert_xrpc_error(response, 400, "ExpiredToken")


def test_delete_session_needs_a_refresh_token(server, session):
    assert_xrpc_error(server.post("com.atproto.server.deleteSession"), 401, "AuthMissing")
    response = server.post("com.atproto.server.deleteSession", token=session["accessJwt"])
    assert_invalid_token(response)


def test_sdk_logout_flow(server):
    client = server.sdk_client()
    refresh_jwt = client._session.refresh_jwt
    client.com.atproto.server.delete_session(headers={"Authorization": f"Bearer {refresh_jwt}"})
    with pytest.raises(BadRequestError) as excinfo:
        client.com.atproto.server.refresh_session(headers={"Authorization": f"Bearer {refresh_jwt}"})
    assert_sdk_error(excinfo, 400, "ExpiredToken")


# --- expiry (second server, access tokens live a few seconds) ---------------------------------------

def test_expired_access_token(short_ttl_server, short_ttl):
    session = short_ttl_server.create_session()
    _, claims = jwt_parts(session["accessJwt"])
    assert claims["exp"] - claims["iat"] == short_ttl
    assert short_ttl_server.get("com.atproto.server.getSession", token=session["accessJwt"]).status_code == 200
    time.sleep(short_ttl + 1.5)
    response = short_ttl_server.get("com.atproto.server.getSession", token=session["accessJwt"])
    body = assert_xrpc_error(response, 400, "ExpiredToken")
    assert body["message"] == "Token has expired"
    # The refresh token still works and gives a fresh access token.
    refreshed = short_ttl_server.post("com.atproto.server.refreshSession", token=session["refreshJwt"])
    assert refreshed.status_code == 200, refreshed.text
    assert short_ttl_server.get("com.atproto.server.getSession", token=refreshed.json()["accessJwt"]).status_code == 200


def test_sdk_refreshes_an_expired_session_transparently(short_ttl_server, short_ttl):
    client = short_ttl_server.sdk_client()
    events = []
    client.on_session_change(lambda event, session: events.append(event))
    did = client.com.atproto.server.get_session().did
    time.sleep(short_ttl + 1.5)
    # The stored access token has expired; the SDK refreshes before calling.
    created = client.com.atproto.repo.create_record(
        {"repo": did, "collection": "app.bsky.feed.post",
         "record": {"$type": "app.bsky.feed.post", "text": "after expiry", "createdAt": client.get_current_time_iso()}})
    assert created.uri.startswith(f"at://{did}/app.bsky.feed.post/")
    assert SessionEvent.REFRESH in events
    assert client.com.atproto.server.get_session().did == did


def test_sdk_login_and_own_profile_work_without_an_appview(server, did):
    """`pds dev` with no reachable AppView answers the account's own profile from its records, so
    the README's example (the SDK's `login` fetches the profile) works offline."""
    from atproto import Client
    client = Client(base_url=server.url)
    profile = client.login(server.handle, server.password)
    assert profile.did == did and profile.handle == server.handle
    assert client.get_profile(server.handle).did == did
    assert [p.did for p in client.get_profiles([did, server.handle]).profiles] == [did]
    # Someone else's profile still needs the AppView: no made-up answer.
    response = server.get("app.bsky.actor.getProfile", {"actor": "bob.example.com"},
                          token=client._session.access_jwt)
    assert response.status_code in (501, 502), response.text

"""Identity and the network (issue 5): the Bluesky app's sign-in sequence (REFERENCE-PDS.md §4), did:plc
publication, own-domain handles, service proxying to the AppView and the chat service, requestCrawl,
and service-auth tokens, against loopback stand-ins (Tests/interop/standins) that check everything
they receive.

This module starts its OWN `pds dev` (binary: $PDS_INTEROP_BIN, default .build/debug/pds) pointed at
the stand-ins, with access tokens that live ACCESS_TTL seconds. The tests run in file order: the
handle change comes last, and the final test asserts that no stand-in recorded a failure."""

import os
import time

import libipld
import pytest
from atproto import Client, SessionEvent, models

from standins import Network
from standins.common import ServiceJwtVerifier, new_private_key
from standins.plc import make_genesis, op_cid
from test_blobs import png, raw_cid
from network_server import TIMEOUT, start_pds, wait_for

ACCESS_TTL = 3
HANDLE = "alice.test"
NEW_HANDLE = "alice.example.com"
APPVIEW_DID = "did:web:appview.test"
APPVIEW_PROXY = f"{APPVIEW_DID}#bsky_appview"
LABELERS = "did:plc:ar7c4by46qjdydhdevvrndac;redact"
LANGUAGE = "en-GB,en;q=0.9"
DISCOVER = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.generator/whats-hot"
POST = "app.bsky.feed.post"


# --- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def net():
    with Network(appview_did=APPVIEW_DID) as network:
        yield network


@pytest.fixture(scope="module")
def pds(net, tmp_path_factory):
    env = dict(net.env(), PDS_ACCESS_TOKEN_TTL=str(ACCESS_TTL))
    with start_pds(tmp_path_factory.mktemp("pds-network"), HANDLE, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def service_did(pds):
    return pds.get("com.atproto.server.describeServer").json()["did"]


class AppSession:
    """A password session as the Bluesky app keeps it (REFERENCE-PDS.md §4.6): on 400 ExpiredToken or
    401 it calls refreshSession, then getSession, and retries once."""

    def __init__(self, pds, identifier=None, password=None):
        self.pds = pds
        self.session = pds.create_session(identifier, password)
        self.refreshes = []   # the responses that triggered a refresh

    @property
    def access(self):
        return self.session["accessJwt"]

    def appview_headers(self):
        return {"atproto-proxy": APPVIEW_PROXY, "atproto-accept-labelers": LABELERS,
                "Accept-Language": LANGUAGE, "X-Bsky-Is-Beta-User": "false"}

    def call(self, method, nsid, params=None, body=None, headers=None):
        for attempt in (1, 2):
            if method == "GET":
                response = self.pds.get(nsid, params=params, token=self.access, headers=headers)
            else:
                response = self.pds.post(nsid, body, token=self.access, headers=headers)
            expired = response.status_code == 401 or (
                response.status_code == 400 and _error(response) == "ExpiredToken")
            if not expired or attempt == 2:
                return response
            self.refreshes.append(response)
            refreshed = self.pds.post("com.atproto.server.refreshSession", token=self.session["refreshJwt"])
            assert refreshed.status_code == 200, f"refreshSession: {refreshed.status_code} {refreshed.text[:300]}"
            self.session.update(refreshed.json())
            if "didDoc" not in refreshed.json() or "emailConfirmed" not in refreshed.json():
                again = self.pds.get("com.atproto.server.getSession", token=self.access)
                assert again.status_code == 200, f"getSession after refresh: {again.text[:300]}"
        return response

    def appview(self, nsid, params=None, method="GET", body=None):
        return self.call(method, nsid, params=params, body=body, headers=self.appview_headers())


def _error(response):
    try:
        return response.json().get("error")
    except ValueError:
        return None


def assert_ok(response, what):
    assert response.status_code == 200, f"{what}: {response.status_code} {response.text[:500]}"
    return response.json() if response.content else None


def assert_error_body(response, statuses, what):
    """An XRPC error: one of `statuses`, JSON `{"error", "message"?}`."""
    assert response.status_code in statuses, f"{what}: expected {statuses}, got {response.status_code} {response.text[:300]}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), f"{what}: not a JSON error"
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], f"{what}: error body without `error`: {body}"
    return body


def new_calls(service, before, nsid=None):
    with service.lock:
        calls = service.calls[before:]
    return [call for call in calls if nsid is None or call["nsid"] == nsid]


def assert_service_call(call, service, did, nsid):
    """A call the stand-in verified: the token came from the account for `nsid`."""
    payload = call["jwt"]["payload"]
    assert payload["iss"] == did, f"{nsid}: iss {payload['iss']}"
    assert payload["aud"] in (service.did, f"{service.did}#{service.service_id}"), f"{nsid}: aud {payload['aud']}"
    assert payload["lxm"] == nsid
    assert payload["exp"] - payload["iat"] <= 60
    assert call["jwt"]["header"]["alg"] == "ES256K", f"{nsid}: alg {call['jwt']['header']['alg']}"


# --- (a) the Bluesky app's sign-in sequence ----------------------------------------------------------

def test_server_runs_against_the_standins(pds):
    assert pds.did and pds.did.startswith("did:plc:"), f"account DID {pds.did!r}"
    assert pds.http.get(f"{pds.url}/xrpc/_health", timeout=TIMEOUT).status_code == 200


def test_1_describe_server(pds):
    described = Client(base_url=pds.url).com.atproto.server.describe_server()
    assert described.did.startswith("did:web:")
    assert isinstance(described.available_user_domains, list)


def test_2_create_session_with_handle(pds, net):
    before = len(net.appview.calls)
    client = Client(base_url=pds.url)
    # The SDK's default login also fetches the profile: app.bsky.actor.getProfile through the PDS.
    profile = client.login(pds.handle, pds.password)
    assert profile is not None, "login could not fetch the profile: app.bsky.actor.getProfile is not proxied"
    assert profile.did == pds.did and profile.handle == pds.handle
    (call,) = new_calls(net.appview, before, "app.bsky.actor.getProfile")
    assert_service_call(call, net.appview, pds.did, "app.bsky.actor.getProfile")
    assert call["query"]["actor"] == [pds.handle]

    raw = pds.create_session()
    assert raw["did"] == pds.did and raw["handle"] == pds.handle and raw.get("active", True) is True
    if "didDoc" in raw:
        # The app sends every later request to the didDoc's #atproto_pds endpoint.
        services = [s for s in raw["didDoc"].get("service", []) if s.get("id", "").endswith("#atproto_pds")]
        assert services and services[0]["serviceEndpoint"] == pds.url, raw["didDoc"]


def test_3_create_session_with_app_password(pds):
    full = pds.sdk()
    created = full.com.atproto.server.create_app_password({"name": "bluesky-app"})
    client = Client(base_url=pds.url)
    client.login(pds.handle, created.password, fetch_bsky_profile=False)
    session = client.com.atproto.server.get_session()
    assert session.did == pds.did and session.handle == pds.handle


def test_4_get_session(pds):
    app = AppSession(pds)
    body = assert_ok(app.call("GET", "com.atproto.server.getSession"), "getSession")
    assert body["did"] == pds.did and body["handle"] == pds.handle
    assert body.get("active", True) is True


def test_5_post_login_prefetch(pds, net):
    app = AppSession(pds)
    before = len(net.appview.calls)
    state = assert_ok(app.appview("app.bsky.ageassurance.getState", {"countryCode": "GB"}), "ageassurance.getState")
    assert state["state"]["status"] == "unknown"
    prefs = assert_ok(app.appview("app.bsky.actor.getPreferences"), "getPreferences")
    assert isinstance(prefs["preferences"], list)
    calls = new_calls(net.appview, before)
    assert [c["nsid"] for c in calls] == ["app.bsky.ageassurance.getState"], \
        "getPreferences must be served locally even with the AppView proxy header"
    assert_service_call(calls[0], net.appview, pds.did, "app.bsky.ageassurance.getState")


HOME_READS = [
    ("app.bsky.actor.getProfile", lambda did: {"actor": did}, "did"),
    ("app.bsky.feed.getTimeline", lambda did: {"limit": "30"}, "feed"),
    ("app.bsky.feed.getFeedGenerators", lambda did: {"feeds": [DISCOVER]}, "feeds"),
    ("app.bsky.labeler.getServices", lambda did: {"dids": ["did:plc:ar7c4by46qjdydhdevvrndac"], "detailed": "true"},
     "views"),
    ("app.bsky.notification.listNotifications", lambda did: {"limit": "40"}, "notifications"),
    ("app.bsky.notification.getUnreadCount", lambda did: {}, "count"),
]


@pytest.mark.parametrize("nsid,params,field", HOME_READS, ids=[r[0] for r in HOME_READS])
def test_6_home_screen_reads_are_proxied_with_the_apps_headers(pds, net, nsid, params, field):
    app = AppSession(pds)
    before = len(net.appview.calls)
    body = assert_ok(app.appview(nsid, params(pds.did)), nsid)
    assert field in body, f"{nsid}: {body}"
    (call,) = new_calls(net.appview, before, nsid)
    assert_service_call(call, net.appview, pds.did, nsid)
    assert call["headers"].get("atproto-accept-labelers") == LABELERS, f"labelers header: {call['headers']}"
    assert call["headers"].get("accept-language") == LANGUAGE, f"Accept-Language: {call['headers']}"
    expected = {key: value if isinstance(value, list) else [value] for key, value in params(pds.did).items()}
    assert call["query"] == expected


def test_6_home_screen_discover_feed(pds, net):
    """getFeed reaches the AppView with a token for the feed generator (lxm getFeedSkeleton)."""
    app = AppSession(pds)
    before = len(net.appview.calls)
    body = assert_ok(app.appview("app.bsky.feed.getFeed", {"feed": DISCOVER, "limit": "30"}), "getFeed")
    assert body["feed"] == []
    (call,) = new_calls(net.appview, before, "app.bsky.feed.getFeed")
    payload = call["jwt"]["payload"]
    assert payload["aud"] in ("did:web:discover.bsky.app", "did:web:discover.bsky.app#bsky_fg")
    assert payload["lxm"] == "app.bsky.feed.getFeedSkeleton"
    assert call["headers"].get("atproto-accept-labelers") == LABELERS


def test_6_upstream_errors_and_headers_pass_through(pds, net):
    app = AppSession(pds)
    response = app.appview("app.bsky.actor.getProfile", {"actor": "nobody.invalid"})
    body = assert_error_body(response, (400,), "getProfile of an unknown actor")
    assert body == {"error": "InvalidRequest", "message": "Profile not found"}
    net.appview.content_labelers = "did:plc:ar7c4by46qjdydhdevvrndac"
    try:
        response = app.appview("app.bsky.notification.getUnreadCount")
        assert_ok(response, "getUnreadCount")
        assert response.headers.get("atproto-content-labelers") == "did:plc:ar7c4by46qjdydhdevvrndac"
    finally:
        net.appview.content_labelers = None


def test_7_preferences_round_trip(pds, net):
    app = AppSession(pds)
    before = len(net.appview.calls)
    preferences = [
        {"$type": "app.bsky.actor.defs#adultContentPref", "enabled": False},
        {"$type": "app.bsky.actor.defs#savedFeedsPrefV2", "items": [
            {"type": "timeline", "value": "following", "pinned": True, "id": "3l6ovcmm2vd2j"},
            {"type": "feed", "value": DISCOVER, "pinned": True, "id": "3l6ovcmm2vd2k"}]},
        {"$type": "app.bsky.actor.defs#contentLabelPref", "label": "graphic-media", "visibility": "warn"},
    ]
    assert_ok(app.appview("app.bsky.actor.putPreferences", method="POST", body={"preferences": preferences}),
              "putPreferences")
    body = assert_ok(app.appview("app.bsky.actor.getPreferences"), "getPreferences")
    assert body["preferences"] == preferences
    # A second put replaces all of them.
    assert_ok(app.appview("app.bsky.actor.putPreferences", method="POST", body={"preferences": preferences[:1]}),
              "putPreferences")
    assert assert_ok(app.appview("app.bsky.actor.getPreferences"), "getPreferences")["preferences"] == preferences[:1]
    # Every preference needs a $type in app.bsky.
    for bad in ({"enabled": True}, {"$type": "com.example.pref", "x": 1}):
        response = app.appview("app.bsky.actor.putPreferences", method="POST", body={"preferences": [bad]})
        assert_error_body(response, (400,), f"putPreferences {bad}")
    assert new_calls(net.appview, before) == [], "preferences must never reach the AppView"
    # The SDK reads them back too.
    sdk = pds.sdk().with_proxy("bsky_appview", APPVIEW_DID)
    assert [p.py_type for p in sdk.app.bsky.actor.get_preferences().preferences] == \
           ["app.bsky.actor.defs#adultContentPref"]


def test_8_post_with_an_image(pds, net):
    client = pds.sdk()
    image = png(width=48, height=24, seed=5)
    before = len(net.appview.calls)
    post = client.send_image("a post with an image", image, "a generated test image",
                             profile_identify=pds.did,
                             image_aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(width=48, height=24))
    assert post.uri.startswith(f"at://{pds.did}/{POST}/")
    rkey = post.uri.rsplit("/", 1)[1]
    record = assert_ok(pds.get("com.atproto.repo.getRecord",
                               {"repo": pds.did, "collection": POST, "rkey": rkey}), "getRecord")
    (embedded,) = record["value"]["embed"]["images"]
    assert embedded["image"]["ref"]["$link"] == raw_cid(image)
    assert embedded["image"]["mimeType"] == "image/png"
    blob = pds.http.get(pds.xrpc("com.atproto.sync.getBlob"), params={"did": pds.did, "cid": raw_cid(image)},
                        timeout=TIMEOUT)
    assert blob.status_code == 200 and blob.content == image
    assert new_calls(net.appview, before) == [], "record and blob writes are local"


def test_8_read_after_write_timeline(pds, net):
    """The AppView has not indexed the new post yet (its Atproto-Repo-Rev predates it): the PDS adds it."""
    rev = assert_ok(pds.get("com.atproto.sync.getLatestCommit", {"did": pds.did}), "getLatestCommit")["rev"]
    client = pds.sdk()
    post = client.send_post("fresh post, not yet indexed", profile_identify=pds.did)
    net.appview.repo_rev = rev
    try:
        response = AppSession(pds).appview("app.bsky.feed.getTimeline", {"limit": "30"})
        body = assert_ok(response, "getTimeline")
        assert response.headers.get("atproto-repo-rev") == rev
        assert post.uri in [item["post"]["uri"] for item in body["feed"]], \
            f"read-after-write: the new post is missing from the timeline {body}"
    finally:
        net.appview.repo_rev = None


def test_8_read_after_write_author_feed_thread_and_profile(pds, net):
    """The other read-after-write views (REFERENCE-PDS.md §2.4): the author's feed, the thread of a
    post the AppView does not know yet, and the profile record written since the AppView's rev."""
    rev = assert_ok(pds.get("com.atproto.sync.getLatestCommit", {"did": pds.did}), "getLatestCommit")["rev"]
    client = pds.sdk()
    post = client.send_post("another fresh post", profile_identify=pds.did)
    name = f"Alice {os.urandom(3).hex()}"
    client.com.atproto.repo.put_record({"repo": pds.did, "collection": "app.bsky.actor.profile", "rkey": "self",
                                        "record": {"$type": "app.bsky.actor.profile", "displayName": name}})
    net.appview.repo_rev = rev
    try:
        app = AppSession(pds)
        feed = app.appview("app.bsky.feed.getAuthorFeed", {"actor": pds.did})
        body = assert_ok(feed, "getAuthorFeed")
        items = [item["post"] for item in body["feed"]]
        assert post.uri in [item["uri"] for item in items], f"the new post is missing from the author feed {body}"
        mine = next(item for item in items if item["uri"] == post.uri)
        assert mine["author"]["did"] == pds.did and mine["author"].get("displayName") == name
        assert int(feed.headers["atproto-upstream-lag"]) >= 0

        thread = app.appview("app.bsky.feed.getPostThread", {"uri": post.uri})
        body = assert_ok(thread, "getPostThread of a post the AppView has not indexed")
        assert body["thread"]["post"]["uri"] == post.uri
        assert body["thread"]["post"]["record"]["text"] == "another fresh post"

        profile = assert_ok(app.appview("app.bsky.actor.getProfile", {"actor": pds.did}), "getProfile")
        assert profile["did"] == pds.did and profile["displayName"] == name
    finally:
        net.appview.repo_rev = None
    # Without a newer local record the AppView's answer passes through untouched.
    thread = AppSession(pds).appview("app.bsky.feed.getPostThread", {"uri": post.uri})
    assert thread.status_code == 400 and thread.json()["error"] == "NotFound"


def test_9_refresh_after_the_access_token_expired(pds, net):
    app = AppSession(pds)
    time.sleep(ACCESS_TTL + 1.5)
    before = len(net.appview.calls)
    body = assert_ok(app.appview("app.bsky.feed.getTimeline", {"limit": "30"}), "getTimeline after refresh")
    assert body["feed"] == []
    assert len(app.refreshes) == 1, "the expired access token was accepted"
    expired = app.refreshes[0]
    assert expired.status_code == 400 and _error(expired) == "ExpiredToken", \
        f"expired token: {expired.status_code} {expired.text[:200]}"
    assert len(new_calls(net.appview, before, "app.bsky.feed.getTimeline")) == 1

    # The SDK refreshes on its own.
    client = pds.sdk()
    events = []
    client.on_session_change(lambda event, session: events.append(event))
    time.sleep(ACCESS_TTL + 1.5)
    timeline = client.with_proxy("bsky_appview", APPVIEW_DID).with_bsky_labeler().get_timeline(limit=30)
    assert timeline.feed == []
    assert SessionEvent.REFRESH in events


def _chat_calls(pds, net, session):
    headers = {"atproto-proxy": net.chat.proxy_header}
    listed = session.call("GET", "chat.bsky.convo.listConvos", params={"limit": "20"}, headers=headers)
    log = session.call("GET", "chat.bsky.convo.getLog", headers=headers)
    return listed, log


def test_10_chat_with_a_privileged_app_password(pds, net):
    full = pds.sdk()
    privileged = full.com.atproto.server.create_app_password({"name": "bluesky-dm", "privileged": True}).password
    for session in (AppSession(pds, password=privileged), AppSession(pds)):
        before = len(net.chat.calls)
        listed, log = _chat_calls(pds, net, session)
        assert assert_ok(listed, "chat.bsky.convo.listConvos") == {"convos": []}
        assert "logs" in assert_ok(log, "chat.bsky.convo.getLog")
        calls = new_calls(net.chat, before)
        assert [c["nsid"] for c in calls] == ["chat.bsky.convo.listConvos", "chat.bsky.convo.getLog"]
        for call in calls:
            assert_service_call(call, net.chat, pds.did, call["nsid"])


def test_10_chat_refused_for_a_plain_app_password(pds, net):
    full = pds.sdk()
    plain = full.com.atproto.server.create_app_password({"name": "no-dm"}).password
    before = len(net.chat.calls)
    listed, log = _chat_calls(pds, net, AppSession(pds, password=plain))
    assert_error_body(listed, range(400, 500), "chat with a non-privileged app password")
    assert_error_body(log, range(400, 500), "chat with a non-privileged app password")
    assert new_calls(net.chat, before) == [], "the chat service must not be called"


# --- (b) did:plc publication -------------------------------------------------------------------------

def _genesis_entry(net, did):
    with net.plc.lock:
        accepted = [e for e in net.plc.received if e["did"] == did and e["status"] == 200]
    assert accepted, (f"the PLC stand-in accepted no operation for {did}; it received "
                      f"{[(e['did'], e['status'], e['message']) for e in net.plc.received]}")
    return accepted[0]


def test_genesis_op_was_published_and_valid(pds, net):
    entry = _genesis_entry(net, pds.did)
    op = entry["operation"]
    assert op["prev"] is None and op["type"] == "plc_operation"
    assert op["alsoKnownAs"] == [f"at://{HANDLE}"]
    assert op["services"] == {"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": pds.url}}
    credentials = assert_ok(pds.get("com.atproto.identity.getRecommendedDidCredentials",
                                    token=pds.create_session()["accessJwt"]), "getRecommendedDidCredentials")
    assert set(credentials) >= {"alsoKnownAs", "verificationMethods", "rotationKeys", "services"}
    assert op["verificationMethods"] == {"atproto": credentials["verificationMethods"]["atproto"]}
    assert credentials["rotationKeys"] and set(credentials["rotationKeys"]) <= set(op["rotationKeys"]), \
        "the server's rotation key is not in the genesis op"
    assert credentials["services"]["atproto_pds"] == {"type": "AtprotoPersonalDataServer", "endpoint": pds.url}

    doc = net.plc.document(pds.did)
    assert doc["id"] == pds.did and doc["alsoKnownAs"][0] in (f"at://{HANDLE}", f"at://{NEW_HANDLE}")
    (method,) = [m for m in doc["verificationMethod"] if m["id"] == f"{pds.did}#atproto"]
    assert "did:key:" + method["publicKeyMultibase"] == credentials["verificationMethods"]["atproto"]
    assert doc["service"] == [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds.url}]


def test_well_known_atproto_did(pds):
    response = pds.http.get(f"{pds.url}/.well-known/atproto-did", timeout=TIMEOUT)
    assert response.status_code == 200, response.text[:200]
    assert response.headers.get("Content-Type", "").startswith("text/plain")
    assert response.text.strip() == pds.did


# --- (e) service auth ----------------------------------------------------------------------------------

def test_get_service_auth_and_upload_blob(pds, net, service_did):
    token = pds.create_session()["accessJwt"]
    exp = int(time.time()) + 30 * 60
    response = pds.get("com.atproto.server.getServiceAuth",
                       {"aud": service_did, "lxm": "com.atproto.repo.uploadBlob", "exp": str(exp)}, token=token)
    service_token = assert_ok(response, "getServiceAuth for uploadBlob")["token"]
    verifier = ServiceJwtVerifier(net.appview.resolver.resolve)
    header, payload = verifier.verify(f"Bearer {service_token}", {service_did}, "com.atproto.repo.uploadBlob")
    assert header["alg"] == "ES256K" and payload["iss"] == pds.did and payload["exp"] == exp

    image = png(seed=9)
    uploaded = pds.post("com.atproto.repo.uploadBlob", data=image,
                        headers={"Authorization": f"Bearer {service_token}", "Content-Type": "image/png"})
    body = assert_ok(uploaded, "uploadBlob with a service JWT")
    assert body["blob"]["ref"]["$link"] == raw_cid(image)


def test_get_service_auth_limits(pds, service_did):
    token = pds.create_session()["accessJwt"]
    now = int(time.time())
    cases = {
        "no lxm, 2 minutes": {"aud": service_did, "exp": str(now + 120)},
        "lxm, 2 hours": {"aud": service_did, "lxm": "com.atproto.repo.uploadBlob", "exp": str(now + 7200)},
        "expired": {"aud": service_did, "lxm": "com.atproto.repo.uploadBlob", "exp": str(now - 10)},
        "protected method": {"aud": service_did, "lxm": "com.atproto.server.createAppPassword"},
    }
    for reason, params in cases.items():
        response = pds.get("com.atproto.server.getServiceAuth", params, token=token)
        assert_error_body(response, (400,), f"getServiceAuth {reason}")
    # A token for another method is no good for uploadBlob.
    other = assert_ok(pds.get("com.atproto.server.getServiceAuth",
                              {"aud": service_did, "lxm": "app.bsky.feed.getTimeline"}, token=token), "getServiceAuth")
    refused = pds.post("com.atproto.repo.uploadBlob", data=b"x",
                       headers={"Authorization": f"Bearer {other['token']}", "Content-Type": "text/plain"})
    assert_error_body(refused, (400, 401, 403), "uploadBlob with a token for another lxm")


def test_service_auth_token_is_accepted_by_the_appview(pds, net):
    token = pds.create_session()["accessJwt"]
    minted = assert_ok(pds.get("com.atproto.server.getServiceAuth",
                               {"aud": APPVIEW_DID, "lxm": "app.bsky.feed.getTimeline"}, token=token), "getServiceAuth")
    response = pds.http.get(f"{net.appview.url}/xrpc/app.bsky.feed.getTimeline",
                            headers={"Authorization": f"Bearer {minted['token']}"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text


# --- (d) requestCrawl -------------------------------------------------------------------------------

def test_request_crawl_reached_the_relay(pds, net, service_did):
    requests_seen = wait_for(lambda: list(net.relay.crawl_requests), 10, "a requestCrawl at the relay stand-in")
    host = service_did[len("did:web:"):].replace("%3A", ":")
    assert requests_seen[0]["hostname"] in (host, f"127.0.0.1:{pds.port}"), requests_seen[0]
    # More events do not trigger more requests (at most one every 20 minutes).
    client = pds.sdk()
    client.send_post("one more event", profile_identify=pds.did)
    time.sleep(2)
    assert len(net.relay.crawl_requests) == 1, [r["hostname"] for r in net.relay.crawl_requests]


# --- (c) handles ------------------------------------------------------------------------------------

def test_resolve_handle_via_dns_with_the_bidirectional_check(pds, net):
    rotation, signing = new_private_key(), new_private_key()
    bob, genesis = make_genesis(rotation, signing, "bob.example.com", "http://127.0.0.1:9")
    net.plc.submit(bob, genesis, time.time())
    net.dns.set_txt("_atproto.bob.example.com", f"did={bob}")
    net.dns.set_txt("_atproto.mallory.example.com", f"did={bob}")  # bob's document does not claim it
    response = pds.get("com.atproto.identity.resolveHandle", {"handle": "bob.example.com"})
    assert assert_ok(response, "resolveHandle bob.example.com") == {"did": bob}
    assert net.dns.queried("_atproto.bob.example.com"), "the DNS stand-in was not asked"
    response = pds.get("com.atproto.identity.resolveHandle", {"handle": "mallory.example.com"})
    assert_error_body(response, (400, 404), "resolveHandle of a handle the DID document does not claim")


def test_update_handle_refused_when_it_does_not_resolve(pds, net):
    app = AppSession(pds)
    ops_before = len(net.plc.received)
    net.dns.set_txt("_atproto.wrong.example.com", "did=did:plc:" + "a" * 24)
    for handle in ("nobody.example.org", "wrong.example.com"):
        response = app.call("POST", "com.atproto.identity.updateHandle", body={"handle": handle})
        assert_error_body(response, (400,), f"updateHandle {handle}")
    assert len(net.plc.received) == ops_before, "an op was published for an unresolvable handle"
    assert assert_ok(app.call("GET", "com.atproto.server.getSession"), "getSession")["handle"] == HANDLE


def test_update_handle_to_an_own_domain(pds, net):
    genesis = _genesis_entry(net, pds.did)
    app = AppSession(pds)
    net.dns.set_txt(f"_atproto.{NEW_HANDLE}", f"did={pds.did}")
    plc_reads_before = len(net.plc.log)
    started = time.time()
    assert_ok(app.call("POST", "com.atproto.identity.updateHandle", body={"handle": NEW_HANDLE}), "updateHandle")
    assert net.dns.queried(f"_atproto.{NEW_HANDLE}"), "updateHandle did not look up the TXT record"

    with net.plc.lock:
        updates = [e for e in net.plc.received if e["did"] == pds.did and isinstance(e["operation"], dict)
                   and e["operation"].get("prev") is not None]
        reads = [e["path"] for e in net.plc.log[plc_reads_before:] if e["method"] == "GET"]
    assert updates, "no update operation reached the PLC stand-in"
    update = updates[-1]
    assert update["status"] == 200, f"the PLC stand-in refused the update: {update['message']}"
    op = update["operation"]
    assert op["prev"] == genesis["cid"] == op_cid(genesis["operation"])
    assert op["alsoKnownAs"] == [f"at://{NEW_HANDLE}"]
    for field in ("rotationKeys", "verificationMethods", "services"):
        assert op[field] == genesis["operation"][field], f"updateHandle changed {field}"
    assert any(path in (f"/{pds.did}/log/last", f"/{pds.did}/log/audit") for path in reads), \
        f"the update was not chained on the directory's log (GETs: {reads})"
    assert net.plc.document(pds.did)["alsoKnownAs"] == [f"at://{NEW_HANDLE}"]

    session = assert_ok(app.call("GET", "com.atproto.server.getSession"), "getSession")
    assert session["handle"] == NEW_HANDLE
    resolved = assert_ok(pds.get("com.atproto.identity.resolveHandle", {"handle": NEW_HANDLE}), "resolveHandle")
    assert resolved == {"did": pds.did}
    assert pds.create_session(identifier=NEW_HANDLE)["did"] == pds.did
    assert _identity_event(pds, NEW_HANDLE, started), f"no #identity event for {NEW_HANDLE} on the firehose"


def _identity_event(pds, handle, since):
    """Looks for `#identity {did, handle}` on subscribeRepos (replayed from cursor 0), 5 s at most."""
    from websockets.sync.client import connect
    url = pds.url.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0"
    deadline = time.time() + 5
    try:
        with connect(url, open_timeout=5, close_timeout=1) as socket_:
            while time.time() < deadline:
                try:
                    frame = socket_.recv(timeout=max(0.1, deadline - time.time()))
                except TimeoutError:
                    break
                header, body = libipld.decode_dag_cbor_multi(frame)[:2]
                if header.get("t") == "#identity" and body.get("did") == pds.did and body.get("handle") == handle:
                    return True
    except Exception as exc:  # noqa: BLE001 - reported as the assertion message
        pytest.fail(f"subscribeRepos failed: {type(exc).__name__}: {exc}")
    return False


# --- the stand-ins saw nothing wrong ------------------------------------------------------------

def test_zz_no_standin_failures(pds, net):
    failures = net.failures()
    assert failures == [], "the stand-ins recorded failures:\n" + "\n".join(failures)
    assert pds.process.poll() is None, f"the pds exited:\n{pds.log_tail()}"

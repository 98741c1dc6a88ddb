"""Loopback stand-ins for the Bluesky AppView and the chat service.

Every `/xrpc/<nsid>` request must carry `Authorization: Bearer <service JWT>`; the token is verified
(ATPROTO.md §11): alg ES256K/ES256, typ JWT, `iss` resolved through the PLC stand-in to its `#atproto`
key, 64-byte low-S signature, `aud` = this service's DID (bare or `did#<service id>`), `lxm` = the NSID,
`exp` in the future with `exp - iat <= 60`, and a `jti` never seen before. Failures answer 401 and are
recorded in `failures`; verified calls are recorded in `calls`.

`app.bsky.feed.getFeed` is special, as in the reference PDS (REFERENCE-PDS.md §1f): the token must be
addressed to the feed generator's DID with `lxm = app.bsky.feed.getFeedSkeleton`.

`com.atproto.repo.getRecord` and `com.atproto.identity.resolveHandle` are public AppView endpoints (the
reference PDS calls them without a token): they are served without one (a token, if present, is
verified like any other)."""

import json
import threading
import time
import urllib.parse

import requests

from .common import HTTP_TIMEOUT, CheckError, ServiceJwtVerifier, StandinServer, cid_for_cbor, dag_cbor, \
    doc_handle, iso_now

FORWARDED_HEADERS = ("atproto-accept-labelers", "accept-language", "x-bsky-topics", "content-type",
                     "accept-encoding", "content-encoding", "atproto-proxy", "x-bsky-is-beta-user")
DISCOVER_FEED = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.generator/whats-hot"
DISCOVER_FEEDGEN_DID = "did:web:discover.bsky.app"
PUBLIC_METHODS = ("com.atproto.repo.getRecord", "com.atproto.identity.resolveHandle")


class DidResolver:
    """Resolves DIDs over HTTP: did:plc through the PLC stand-in, did:web on 127.0.0.1 over plain http."""

    def __init__(self, plc_url):
        self.plc_url = plc_url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False
        self.lock = threading.Lock()

    def resolve(self, did):
        if did.startswith("did:plc:"):
            url = f"{self.plc_url}/{did}"
        elif did.startswith("did:web:"):
            host = urllib.parse.unquote(did[len("did:web:"):])
            if not host.startswith("127.0.0.1"):
                raise CheckError(f"cannot resolve {did}: only loopback did:web is reachable here", "BadJwtIssuer")
            url = f"http://{host}/.well-known/did.json"
        else:
            raise CheckError(f"cannot resolve {did}: unsupported DID method", "BadJwtIssuer")
        try:
            with self.lock:
                response = self.http.get(url, timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise CheckError(f"resolving {did} failed: {exc}", "BadJwtIssuer") from None
        if response.status_code != 200:
            raise CheckError(f"resolving {did}: {url} answered {response.status_code}", "BadJwtIssuer")
        try:
            return response.json()
        except ValueError:
            raise CheckError(f"resolving {did}: {url} is not JSON", "BadJwtIssuer") from None


class AppView(StandinServer):
    """The AppView stand-in. `repo_rev`, when set, is sent as `Atproto-Repo-Rev` on every answer."""

    name = "appview"
    service_id = "bsky_appview"

    def __init__(self, plc_url, did="did:web:appview.test"):
        super().__init__()
        self.did = did
        self.resolver = DidResolver(plc_url)
        self.verifier = ServiceJwtVerifier(self._resolve)
        self.calls = []
        self.repo_rev = None
        self.content_labelers = None
        self.docs = {}  # DIDs resolved while verifying tokens -> their documents
        self.feed_generators = {DISCOVER_FEED: DISCOVER_FEEDGEN_DID}
        self.posts = {}  # repo DID -> feed items served by getTimeline (tests may add some)

    def _resolve(self, did):
        doc = self.resolver.resolve(did)
        with self.lock:
            self.docs[did] = doc
        return doc

    def audiences(self):
        return {self.did, f"{self.did}#{self.service_id}"}

    def calls_to(self, nsid):
        with self.lock:
            return [call for call in self.calls if call["nsid"] == nsid]

    # --- HTTP ----------------------------------------------------------------------------------

    def handle(self, request):
        path = request.url_path
        if path == "/.well-known/did.json":
            self._did_document(request)
            return
        if not path.startswith("/xrpc/") or path.count("/") != 2:
            self.fail(f"{request.command} {request.path}: not an /xrpc/<nsid> path")
            request.reply(404, {"error": "NotFound", "message": "not found"})
            return
        nsid = path[len("/xrpc/"):]
        headers = {name: request.headers.get(name) for name in FORWARDED_HEADERS if name in request.headers}
        call = {"nsid": nsid, "method": request.command, "query": request.query, "headers": headers,
                "all_headers": {k.lower(): v for k, v in request.headers.items()}, "body": None,
                "jwt": None, "time": time.time()}
        if request.command == "POST":
            call["body"] = request.body
            if request.headers.get("Content-Type", "").startswith("application/json"):
                try:
                    call["body"] = json.loads(request.body)
                except ValueError:
                    self.fail(f"POST {nsid}: Content-Type application/json but the body is not JSON")
        audiences, lxm = self.audiences(), nsid
        if nsid == "app.bsky.feed.getFeed":
            feedgen = self.feed_generators.get((request.query.get("feed") or [""])[0])
            if feedgen:
                audiences, lxm = {feedgen, f"{feedgen}#bsky_fg"}, "app.bsky.feed.getFeedSkeleton"
        authorization = request.headers.get("Authorization")
        if authorization or nsid not in PUBLIC_METHODS:
            try:
                header, payload = self.verifier.verify(authorization, audiences, lxm)
            except CheckError as exc:
                self.fail(f"{request.command} {nsid}: service auth refused: {exc.error}: {exc.message}")
                call["refused"] = f"{exc.error}: {exc.message}"
                self.record(call)
                request.reply(401, {"error": exc.error, "message": exc.message},
                              headers={"WWW-Authenticate": "Bearer"})
                return
            call["jwt"] = {"header": header, "payload": payload}
        self.record(call)
        with self.lock:
            self.calls.append(call)
        status, body = self.answer(nsid, request, call)
        headers = {}
        if self.repo_rev:
            headers["Atproto-Repo-Rev"] = self.repo_rev
        if self.content_labelers:
            headers["Atproto-Content-Labelers"] = self.content_labelers
        request.reply(status, body, headers=headers)

    def _did_document(self, request):
        request.reply(200, {"@context": ["https://www.w3.org/ns/did/v1"], "id": self.did,
                            "service": [self.service_entry()]})

    def service_entry(self):
        return {"id": "#bsky_appview", "type": "BskyAppView", "serviceEndpoint": self.url}

    # --- answers -------------------------------------------------------------------------------

    def requester(self, call):
        return call["jwt"]["payload"]["iss"] if call["jwt"] else None

    def profile(self, did):
        doc = self.docs.get(did)
        handle = doc_handle(doc) if doc else None
        return {"did": did, "handle": handle or "handle.invalid", "displayName": "", "description": "",
                "followersCount": 0, "followsCount": 0, "postsCount": 0, "indexedAt": iso_now(),
                "createdAt": "2026-01-01T00:00:00.000Z", "viewer": {"muted": False, "blockedBy": False},
                "labels": [], "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False}}

    def param(self, call, name):
        values = call["query"].get(name)
        return values[0] if values else None

    def feedgen_view(self, uri):
        did = uri.split("/")[2]
        record = {"did": self.feed_generators[uri]}
        return {"uri": uri, "cid": cid_for_cbor(dag_cbor(record)), "did": self.feed_generators[uri],
                "creator": {"did": did, "handle": "bsky.app"}, "displayName": "Discover",
                "likeCount": 0, "labels": [], "viewer": {}, "indexedAt": iso_now()}

    def answer(self, nsid, request, call):
        me = self.requester(call)
        if nsid in ("app.bsky.actor.getProfile", "app.bsky.actor.getProfiles"):
            actors = call["query"].get("actor") or call["query"].get("actors") or []
            profiles = []
            for actor in actors:
                did = actor if actor.startswith("did:") else next(
                    (d for d, doc in self.docs.items() if doc_handle(doc) == actor.lower()), None)
                if did is None or did not in self.docs:
                    if nsid == "app.bsky.actor.getProfile":
                        return 400, {"error": "InvalidRequest", "message": "Profile not found"}
                    continue
                profiles.append(self.profile(did))
            if nsid == "app.bsky.actor.getProfile":
                if not profiles:
                    return 400, {"error": "InvalidRequest", "message": "Error: actor must be provided"}
                return 200, profiles[0]
            return 200, {"profiles": profiles}
        if nsid == "app.bsky.feed.getTimeline":
            return 200, {"feed": list(self.posts.get(me, [])), "cursor": "standin-cursor"}
        if nsid == "app.bsky.feed.getAuthorFeed":
            return 200, {"feed": []}
        if nsid == "app.bsky.feed.getPostThread":
            # The AppView's answer for a post it has not indexed (yet).
            return 400, {"error": "NotFound", "message": f"Post not found: {self.param(call, 'uri')}"}
        if nsid == "app.bsky.feed.getFeed":
            feed = self.param(call, "feed")
            if feed not in self.feed_generators:
                return 400, {"error": "UnknownFeed", "message": f"Unknown feed: {feed}"}
            return 200, {"feed": [], "cursor": "standin-cursor"}
        if nsid == "app.bsky.feed.getFeedGenerator":
            feed = self.param(call, "feed")
            if feed not in self.feed_generators:
                return 400, {"error": "UnknownFeed", "message": f"Unknown feed: {feed}"}
            return 200, {"view": self.feedgen_view(feed), "isOnline": True, "isValid": True}
        if nsid == "app.bsky.feed.getFeedGenerators":
            feeds = [self.feedgen_view(uri) for uri in call["query"].get("feeds", []) if uri in self.feed_generators]
            return 200, {"feeds": feeds}
        if nsid == "com.atproto.repo.getRecord":
            uri = f"at://{self.param(call, 'repo')}/{self.param(call, 'collection')}/{self.param(call, 'rkey')}"
            if uri not in self.feed_generators:
                return 400, {"error": "RecordNotFound", "message": f"Could not locate record: {uri}"}
            value = {"$type": "app.bsky.feed.generator", "did": self.feed_generators[uri],
                     "displayName": "Discover", "createdAt": "2023-05-01T00:00:00.000Z"}
            return 200, {"uri": uri, "cid": cid_for_cbor(dag_cbor(value)), "value": value}
        if nsid == "com.atproto.identity.resolveHandle":
            handle = (self.param(call, "handle") or "").lower()
            did = next((d for d, doc in self.docs.items() if doc_handle(doc) == handle), None)
            if did is None:
                return 400, {"error": "HandleNotFound", "message": "Unable to resolve handle"}
            return 200, {"did": did}
        if nsid == "app.bsky.notification.listNotifications":
            return 200, {"notifications": [], "priority": False, "seenAt": "2026-01-01T00:00:00.000Z"}
        if nsid == "app.bsky.notification.getUnreadCount":
            return 200, {"count": 0}
        if nsid == "app.bsky.notification.updateSeen":
            return 200, b""
        if nsid == "app.bsky.labeler.getServices":
            return 200, {"views": []}
        if nsid == "app.bsky.ageassurance.getState":
            return 200, {"state": {"status": "unknown", "access": "unknown"},
                         "metadata": {"accountCreatedAt": "2026-01-01T00:00:00.000Z"}}
        if nsid == "app.bsky.unspecced.getConfig":
            return 200, {"checkEmailConfirmed": False, "liveNow": []}
        return 400, {"error": "MethodNotImplemented", "message": f"stand-in {self.name} does not serve {nsid}"}


class ChatService(AppView):
    """The chat service stand-in: `did:web:127.0.0.1%3A<port>`, `#bsky_chat` → this server."""

    name = "chat"
    service_id = "bsky_chat"

    def __init__(self, plc_url):
        super().__init__(plc_url, did=None)

    def start(self):
        super().start()
        self.did = f"did:web:127.0.0.1%3A{self.port}"
        return self

    @property
    def proxy_header(self):
        return f"{self.did}#bsky_chat"

    def service_entry(self):
        return {"id": "#bsky_chat", "type": "BskyChatService", "serviceEndpoint": self.url}

    def answer(self, nsid, request, call):
        if nsid == "chat.bsky.convo.listConvos":
            return 200, {"convos": []}
        if nsid == "chat.bsky.convo.getLog":
            return 200, {"logs": [], "cursor": self.param(call, "cursor") or "0"}
        return 400, {"error": "MethodNotImplemented", "message": f"stand-in chat does not serve {nsid}"}

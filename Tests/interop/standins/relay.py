"""Loopback stand-in for a relay: records `POST /xrpc/com.atproto.sync.requestCrawl {hostname}`
(REFERENCE-PDS.md §5.1) and answers 200 `{}`; answers `GET /xrpc/_health`. Anything else a PDS
sends it is a failure."""

import re
import time

from .common import CheckError, StandinServer

HOSTNAME = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class Relay(StandinServer):
    name = "relay"

    def __init__(self):
        super().__init__()
        self.crawl_requests = []  # [{hostname, time, headers}]

    def handle(self, request):
        self.record({"method": request.command, "path": request.path, "body": request.body})
        if request.url_path == "/xrpc/_health" and request.command == "GET":
            # What a relay answers for a liveness check (`pds doctor` asks).
            request.reply(200, {"version": "relay-standin"})
            return
        if request.url_path != "/xrpc/com.atproto.sync.requestCrawl":
            self.fail(f"unexpected request {request.command} {request.path}")
            request.reply(404, {"error": "MethodNotImplemented", "message": "the relay stand-in only takes requestCrawl"})
            return
        if request.command != "POST":
            self.fail(f"requestCrawl with method {request.command}, not POST")
            request.reply(400, {"error": "InvalidRequest", "message": "requestCrawl is a procedure (POST)"})
            return
        try:
            body = request.json_body()
            hostname = body.get("hostname")
            if set(body) != {"hostname"}:
                raise CheckError(f"requestCrawl body fields {sorted(body)} are not [hostname]")
            if not isinstance(hostname, str) or not HOSTNAME.fullmatch(hostname):
                raise CheckError(f"hostname {hostname!r} is not a bare host name (no scheme, no path)")
        except CheckError as exc:
            self.fail(f"requestCrawl: {exc.message}")
            request.reply(400, {"error": "InvalidRequest", "message": exc.message})
            return
        with self.lock:
            self.crawl_requests.append({"hostname": hostname, "time": time.time(),
                                        "headers": {k.lower(): v for k, v in request.headers.items()}})
        request.reply(200, {})

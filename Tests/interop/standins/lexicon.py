"""Loopback stand-in for a Lexicon authority's PDS (https://atproto.com/specs/lexicon, "Lexicon
Publication and Resolution"): its identity is `did:web:127.0.0.1%3A<port>` (served at
/.well-known/did.json with an `#atproto_pds` service pointing back here), and it answers
`com.atproto.repo.getRecord` for `com.atproto.lexicon.schema` records from `schemas` (NSID → the
schema document). A request for any other repository or collection is recorded as a failure."""

from .common import StandinServer

SCHEMA_COLLECTION = "com.atproto.lexicon.schema"


class LexiconAuthority(StandinServer):
    name = "lexicon-authority"

    def __init__(self):
        super().__init__()
        self.schemas = {}
        self.fetches = []  # rkeys asked for, in order

    @property
    def did(self):
        return f"did:web:127.0.0.1%3A{self.port}"

    def publish(self, schema):
        """Publishes a schema document (a dict with `id`) as a record at rkey = its NSID."""
        with self.lock:
            self.schemas[schema["id"]] = dict(schema, **{"$type": SCHEMA_COLLECTION})

    def handle(self, request):
        path = request.url_path
        if path == "/.well-known/did.json":
            request.reply(200, {"@context": ["https://www.w3.org/ns/did/v1"], "id": self.did,
                                "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": self.url}]})
            return
        if path == "/xrpc/com.atproto.repo.getRecord":
            params = {name: values[0] for name, values in request.query.items()}
            if params.get("repo") != self.did or params.get("collection") != SCHEMA_COLLECTION:
                self.fail(f"getRecord for an unexpected record: {params}")
                request.reply(400, {"error": "InvalidRequest", "message": "unexpected record"})
                return
            rkey = params.get("rkey", "")
            with self.lock:
                self.fetches.append(rkey)
                schema = self.schemas.get(rkey)
            if schema is None:
                request.reply(400, {"error": "RecordNotFound", "message": f"Could not locate record: {rkey}"})
                return
            uri = f"at://{self.did}/{SCHEMA_COLLECTION}/{rkey}"
            request.reply(200, {"uri": uri, "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", "value": schema})
            return
        request.reply(404, {"error": "NotFound", "message": "not found"})

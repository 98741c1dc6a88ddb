"""Loopback stand-in for a Lexicon authority's PDS (https://atproto.com/specs/lexicon, "Lexicon
Publication and Resolution"): its identity is `did:web:127.0.0.1%3A<port>` (served at
/.well-known/did.json with an `#atproto` K-256 key and an `#atproto_pds` service pointing back
here), and it answers `com.atproto.sync.getRecord` for `com.atproto.lexicon.schema` records from
`schemas` (NSID → the schema document) with a CAR of its whole repository, commit signed with its
key, as a real PDS proves a record (a superset of the proof path; a resolver needs only the path).
Setting `forged_by` to another key signs the commit with that key instead, as a server that is not
the authority would. A request for any other repository or collection is recorded as a failure."""

from .common import StandinServer, did_key_for, new_private_key
from .repo import repo_car

SCHEMA_COLLECTION = "com.atproto.lexicon.schema"


class LexiconAuthority(StandinServer):
    name = "lexicon-authority"

    def __init__(self):
        super().__init__()
        self.schemas = {}
        self.fetches = []  # rkeys asked for, in order
        self.key = new_private_key()
        self.forged_by = None

    @property
    def did(self):
        return f"did:web:127.0.0.1%3A{self.port}"

    def publish(self, schema):
        """Publishes a schema document (a dict with `id`) as a record at rkey = its NSID."""
        with self.lock:
            self.schemas[schema["id"]] = dict(schema, **{"$type": SCHEMA_COLLECTION})

    def document(self):
        return {"@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"], "id": self.did,
                "verificationMethod": [{"id": self.did + "#atproto", "type": "Multikey", "controller": self.did,
                                        "publicKeyMultibase": did_key_for(self.key)[len("did:key:"):]}],
                "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": self.url}]}

    def handle(self, request):
        path = request.url_path
        if path == "/.well-known/did.json":
            request.reply(200, self.document())
            return
        if path == "/xrpc/com.atproto.sync.getRecord":
            params = {name: values[0] for name, values in request.query.items()}
            if params.get("did") != self.did or params.get("collection") != SCHEMA_COLLECTION:
                self.fail(f"sync.getRecord for an unexpected record: {params}")
                request.reply(400, {"error": "InvalidRequest", "message": "unexpected record"})
                return
            rkey = params.get("rkey", "")
            with self.lock:
                self.fetches.append(rkey)
                records = {f"{SCHEMA_COLLECTION}/{nsid}": schema for nsid, schema in self.schemas.items()}
                signer = self.forged_by or self.key
            if f"{SCHEMA_COLLECTION}/{rkey}" not in records:
                request.reply(400, {"error": "RecordNotFound", "message": f"Could not locate record: {rkey}"})
                return
            request.reply(200, repo_car(self.did, signer, records), content_type="application/vnd.ipld.car")
            return
        request.reply(404, {"error": "NotFound", "message": "not found"})

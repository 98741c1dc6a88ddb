"""Loopback stand-in for the PLC directory (plc.directory), did:plc spec v0.3.0 (ATPROTO.md §8.2,
REFERENCE-PDS.md §6.3).

    POST /{did}            submit a signed operation (genesis or update): 200 accepted,
                           400 {"message"} invalid, 409 {"message"} conflict (see below)
    GET  /{did}            DID document (410 once tombstoned)
    GET  /{did}/data       {did, verificationMethods, rotationKeys, alsoKnownAs, services}
    GET  /{did}/log        the operations of the current history
    GET  /{did}/log/last   the latest operation
    GET  /{did}/log/audit  [{did, operation, cid, nullified, createdAt}]

Validation follows the reference directory (signatures, DID derivation, `prev` chaining, 72 h
nullification by higher-priority rotation keys, tombstones, 7500-byte limit). With `strict=True`
(the default, for ops a PDS publishes) it also demands what a correct PDS must produce: 1–5 distinct
rotation keys, `verificationMethods.atproto`, `at://` aliases, an `atproto_pds` service of type
`AtprotoPersonalDataServer` with an origin-only endpoint, no legacy `create` ops, no unknown fields,
`prev` = the head (a fork answers 409), and a JSON Content-Type. The reference directory accepts empty
and duplicate rotation keys (go-didplc vectors `log_empty_rotation_keys`, `log_duplicate_rotation_keys`);
`strict=False` gives exactly the reference rules, for replaying the vectors.

Re-posting an operation that is already in the log answers 409 (not 200): it changes nothing and is
not counted as a failure. A PDS that retries a publish must treat 409 as success.

With `allow_time_override=True` the header `X-Standin-Now: <ISO time>` sets the clock for one
submission (createdAt and the 72 h window), so recorded audit logs can be replayed."""

import datetime
import hashlib
import re
import time
import urllib.parse

from .common import (CheckError, StandinServer, b32_lower, b64url_decode_strict, b64url_encode, cid_for_cbor,
                     dag_cbor, did_key_for, iso_now, parse_did_key, sign_raw, verify_raw)

MAX_OP_BYTES = 7500
RECOVERY_WINDOW = 72 * 3600
DID_PLC = re.compile(r"^did:plc:[a-z2-7]{24}$")
HANDLE = re.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
OPERATION_FIELDS = {"type", "rotationKeys", "verificationMethods", "alsoKnownAs", "services", "prev", "sig"}
TOMBSTONE_FIELDS = {"type", "prev", "sig"}
LEGACY_FIELDS = {"type", "signingKey", "recoveryKey", "handle", "service", "prev", "sig"}


class Rejected(Exception):
    def __init__(self, status, message, failure=True):
        super().__init__(message)
        self.status = status
        self.message = message
        self.failure = failure


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def unsigned(op):
    return {key: value for key, value in op.items() if key != "sig"}


def did_for_genesis(op):
    return "did:plc:" + b32_lower(hashlib.sha256(dag_cbor(op)).digest())[:24]


def sign_operation(op, private_key):
    """`op` signed by `private_key` (a copy; any old `sig` is replaced). For building test identities."""
    body = unsigned(op)
    return {**body, "sig": b64url_encode(sign_raw(private_key, dag_cbor(body)))}


def make_genesis(rotation_key, signing_key, handle, endpoint, more_rotation_keys=()):
    """(did, signed genesis op) for a new identity: `rotation_key` signs and is listed first."""
    op = {"type": "plc_operation",
          "rotationKeys": [did_key_for(rotation_key), *more_rotation_keys],
          "verificationMethods": {"atproto": did_key_for(signing_key)},
          "alsoKnownAs": [f"at://{handle}"],
          "services": {"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": endpoint}},
          "prev": None}
    signed = sign_operation(op, rotation_key)
    return did_for_genesis(signed), signed


def op_cid(op):
    return cid_for_cbor(dag_cbor(op))


def normalize(op):
    """The state an operation sets: legacy `create` ops mapped the way the reference does."""
    if op["type"] == "create":
        handle = op["handle"]
        service = op["service"]
        return {
            "rotationKeys": [op["recoveryKey"], op["signingKey"]],
            "verificationMethods": {"atproto": op["signingKey"]},
            "alsoKnownAs": [handle if handle.startswith("at://") else "at://" + handle],
            "services": {"atproto_pds": {"type": "AtprotoPersonalDataServer",
                                         "endpoint": service if service.startswith("http") else "https://" + service}},
        }
    return {key: op[key] for key in ("rotationKeys", "verificationMethods", "alsoKnownAs", "services")}


def check_shape(op, strict):
    """Static checks of one operation (no history needed). Raises CheckError."""
    if not isinstance(op, dict):
        raise CheckError("operation is not a JSON object")
    kind = op.get("type")
    if kind not in ("plc_operation", "plc_tombstone", "create"):
        raise CheckError(f"unknown operation type {kind!r}")
    if "sig" not in op or "prev" not in op:
        raise CheckError("operation lacks `sig` or `prev` (prev must be present, null for genesis)")
    if op["prev"] is not None and not isinstance(op["prev"], str):
        raise CheckError("`prev` must be null or a CID string")
    try:
        size = len(dag_cbor(op))
    except Exception as exc:  # noqa: BLE001
        raise CheckError(f"operation is not encodable as DAG-CBOR: {exc}") from None
    if size > MAX_OP_BYTES:
        raise CheckError(f"operation is {size} bytes of DAG-CBOR, over the {MAX_OP_BYTES}-byte limit")
    if kind == "plc_tombstone":
        if strict and set(op) != TOMBSTONE_FIELDS:
            raise CheckError(f"tombstone fields {sorted(op)} are not {sorted(TOMBSTONE_FIELDS)}")
        if op["prev"] is None:
            raise CheckError("a tombstone needs `prev`")
        return
    if kind == "create":
        if strict:
            raise CheckError("legacy `create` operations must never be created")
        for field in LEGACY_FIELDS - {"prev"}:
            if not isinstance(op.get(field), str):
                raise CheckError(f"legacy create op field {field!r} is missing or not a string")
        if op["prev"] is not None:
            raise CheckError("a legacy create op must be a genesis op")
        parse_did_key(op["signingKey"], "signingKey")
        parse_did_key(op["recoveryKey"], "recoveryKey")
        return

    if strict and set(op) != OPERATION_FIELDS:
        raise CheckError(f"operation fields {sorted(op)} are not {sorted(OPERATION_FIELDS)}")
    rotation = op.get("rotationKeys")
    methods = op.get("verificationMethods")
    aliases = op.get("alsoKnownAs")
    services = op.get("services")
    if not isinstance(rotation, list) or not all(isinstance(key, str) for key in rotation):
        raise CheckError("rotationKeys is not a list of strings")
    if not isinstance(methods, dict) or not all(isinstance(v, str) for v in methods.values()):
        raise CheckError("verificationMethods is not an object of strings")
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise CheckError("alsoKnownAs is not a list of strings")
    if not isinstance(services, dict):
        raise CheckError("services is not an object")
    if len(rotation) > 5:
        raise CheckError(f"{len(rotation)} rotationKeys: at most 5")
    for index, key in enumerate(rotation):
        parse_did_key(key, f"rotationKeys[{index}]")
    if len(methods) > 10:
        raise CheckError(f"{len(methods)} verificationMethods: at most 10")
    for name, key in methods.items():
        if not key.startswith("did:key:"):
            raise CheckError(f"verificationMethods.{name} {key!r} is not a did:key")
    for name, service in services.items():
        if not isinstance(service, dict) or not isinstance(service.get("type"), str) \
                or not isinstance(service.get("endpoint"), str):
            raise CheckError(f"services.{name} must be {{type, endpoint}} strings")
    if not strict:
        return
    if not 1 <= len(rotation) <= 5:
        raise CheckError(f"{len(rotation)} rotationKeys: a PDS must publish 1 to 5")
    if len(set(rotation)) != len(rotation):
        raise CheckError(f"duplicate rotationKeys {rotation}")
    if "atproto" not in methods:
        raise CheckError("verificationMethods has no `atproto` signing key")
    parse_did_key(methods["atproto"], "verificationMethods.atproto")
    for alias in aliases:
        if not alias.startswith("at://") or not HANDLE.fullmatch(alias[len("at://"):]):
            raise CheckError(f"alsoKnownAs entry {alias!r} is not at://<handle>")
    if not aliases:
        raise CheckError("alsoKnownAs is empty: the account's handle must be listed")
    pds = services.get("atproto_pds")
    if pds is None:
        raise CheckError("services has no atproto_pds entry")
    if pds.get("type") != "AtprotoPersonalDataServer":
        raise CheckError(f"services.atproto_pds.type {pds.get('type')!r} is not AtprotoPersonalDataServer")
    if set(pds) != {"type", "endpoint"}:
        raise CheckError(f"services.atproto_pds fields {sorted(pds)} are not [endpoint, type]")
    endpoint = urllib.parse.urlsplit(pds["endpoint"])
    if endpoint.scheme not in ("http", "https") or not endpoint.netloc or endpoint.path not in ("",) \
            or endpoint.query or endpoint.fragment:
        raise CheckError(f"services.atproto_pds.endpoint {pds['endpoint']!r} is not scheme://host[:port]")


def signer_index(keys, op):
    """Index of the first key in `keys` whose signature `op` carries. Raises CheckError."""
    signature = b64url_decode_strict(op.get("sig"), "sig")
    if len(signature) != 64:
        raise CheckError(f"sig is {len(signature)} bytes, not a 64-byte r||s")
    data = dag_cbor(unsigned(op))
    reasons = []
    for index, key in enumerate(keys):
        try:
            verify_raw(parse_did_key(key), data, signature, "sig")
            return index
        except CheckError as exc:
            reasons.append(exc.message)
    if not keys:
        raise CheckError("no rotation key may sign this operation (the rotation key list is empty)")
    high_s = [reason for reason in reasons if "high-S" in reason]
    raise CheckError(high_s[0] if high_s else f"sig does not verify with any allowed rotation key {keys}")


class PlcDirectory(StandinServer):
    name = "plc"

    def __init__(self, strict=True, allow_time_override=False):
        super().__init__()
        self.strict = strict
        self.allow_time_override = allow_time_override
        self.entries = {}   # did -> [{did, operation, cid, nullified, createdAt, ts}]
        self.received = []  # every POST: {did, operation, status, message, cid}
        # did -> the document GET /{did} keeps serving (a directory whose reads lag its writes,
        # as a cached read path does): lets a test see what a server does before the change shows.
        self.frozen = {}

    def freeze(self, did):
        document = self.document(did)
        with self.lock:
            self.frozen[did] = document

    def unfreeze(self, did):
        with self.lock:
            self.frozen.pop(did, None)

    # --- state ---------------------------------------------------------------------------------

    def audit_log(self, did):
        with self.lock:
            return [{key: entry[key] for key in ("did", "operation", "cid", "nullified", "createdAt")}
                    for entry in self.entries.get(did, [])]

    def active(self, did):
        with self.lock:
            return [entry for entry in self.entries.get(did, []) if not entry["nullified"]]

    def last_op(self, did):
        ops = self.active(did)
        return ops[-1]["operation"] if ops else None

    def state(self, did):
        """The normalized state of a DID, None if unknown, "tombstone" if tombstoned."""
        last = self.last_op(did)
        if last is None:
            return None
        if last["type"] == "plc_tombstone":
            return "tombstone"
        return normalize(last)

    def document(self, did):
        state = self.state(did)
        if not isinstance(state, dict):
            return None
        contexts = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
        methods = []
        for name, key in state["verificationMethods"].items():
            try:
                curve = parse_did_key(key).curve
            except CheckError:
                curve = None
            extra = {"k256": "https://w3id.org/security/suites/secp256k1-2019/v1",
                     "p256": "https://w3id.org/security/suites/ecdsa-2019/v1"}.get(curve)
            if extra and extra not in contexts:
                contexts.append(extra)
            methods.append({"id": f"{did}#{name}", "type": "Multikey", "controller": did,
                            "publicKeyMultibase": key[len("did:key:"):]})
        services = [{"id": f"#{name}", "type": service["type"], "serviceEndpoint": service["endpoint"]}
                    for name, service in state["services"].items()]
        return {"@context": contexts, "id": did, "alsoKnownAs": list(state["alsoKnownAs"]),
                "verificationMethod": methods, "service": services}

    # --- submission ----------------------------------------------------------------------------

    def submit(self, did, op, now):
        """Validates and applies one operation. Returns the new entry or raises Rejected."""
        try:
            check_shape(op, self.strict)
        except CheckError as exc:
            raise Rejected(400, exc.message) from None
        cid = cid_for_cbor(dag_cbor(op))
        with self.lock:
            history = self.entries.get(did, [])
            if any(entry["cid"] == cid for entry in history):
                raise Rejected(409, f"operation {cid} is already in the log of {did}", failure=False)
            ops = [entry for entry in history if not entry["nullified"]]
            nullify = []
            try:
                if not ops:
                    self._check_genesis(did, op)
                else:
                    nullify = self._check_update(op, ops, now)
            except CheckError as exc:
                raise Rejected(400, exc.message) from None
            for entry in nullify:
                entry["nullified"] = True
            entry = {"did": did, "operation": op, "cid": cid, "nullified": False,
                     "createdAt": iso_now(now), "ts": now}
            self.entries.setdefault(did, []).append(entry)
            return entry

    def _check_genesis(self, did, op):
        if op["prev"] is not None:
            raise CheckError(f"{did} is not registered and the operation is not a genesis op (prev is set)")
        if op["type"] == "plc_tombstone":
            raise CheckError("a genesis operation cannot be a tombstone")
        computed = did_for_genesis(op)
        if computed != did:
            raise CheckError(f"genesis operation hashes to {computed}, not {did}")
        signer_index(normalize(op)["rotationKeys"], op)

    def _check_update(self, op, ops, now):
        if op["prev"] is None:
            raise Rejected(400, "the DID is already registered: a genesis operation (prev null) is refused")
        cids = [entry["cid"] for entry in ops]
        if op["prev"] not in cids:
            raise CheckError(f"prev {op['prev']} is not an operation of the current history "
                             f"(unknown or nullified; head is {cids[-1]})")
        index = cids.index(op["prev"])
        base = ops[index]
        if base["operation"]["type"] == "plc_tombstone":
            raise CheckError("the DID is tombstoned: no operation may follow a tombstone")
        keys = normalize(base["operation"])["rotationKeys"]
        later = ops[index + 1:]
        if not later:
            signer_index(keys, op)
            return []
        if self.strict:
            raise Rejected(409, f"prev {op['prev']} is not the latest operation {cids[-1]}: "
                                "an update must chain on the head of the log")
        # A fork: only a higher-priority key than the one that signed the first op it nullifies,
        # and only within 72 hours of that op.
        disputed = signer_index(keys, later[0]["operation"])
        if disputed == 0:
            raise CheckError("no rotation key outranks the signer of the operation being nullified")
        try:
            signer_index(keys[:disputed], op)
        except CheckError as exc:
            raise CheckError(f"a fork must be signed by a rotation key that outranks the signer (index "
                             f"{disputed}) of the op it nullifies: {exc.message}") from None
        lapsed = now - later[0]["ts"]
        if lapsed > RECOVERY_WINDOW:
            raise CheckError(f"nullification {lapsed / 3600:.1f} h after the nullified op: the window is 72 h")
        return later

    # --- HTTP ----------------------------------------------------------------------------------

    def handle(self, request):
        parts = [urllib.parse.unquote(part) for part in request.url_path.split("/") if part]
        self.record({"method": request.command, "path": request.url_path})
        if request.url_path == "/_health":
            request.reply(200, {"version": "plc-standin"})
            return
        if not parts or not parts[0].startswith("did:plc:"):
            request.reply(404, {"message": f"not found: {request.url_path}"})
            return
        did = parts[0]
        if request.command == "POST" and len(parts) == 1:
            self._post(request, did)
        elif request.command == "GET":
            self._get(request, did, parts[1:])
        else:
            request.reply(405, {"message": f"{request.command} {request.url_path} is not supported"})

    def _post(self, request, did):
        now = None
        override = request.headers.get("X-Standin-Now")
        if override and self.allow_time_override:
            now = parse_time(override)
        now = time.time() if now is None else now
        entry = {"did": did, "operation": None, "status": None, "message": None, "cid": None}
        try:
            if not DID_PLC.fullmatch(did):
                raise Rejected(400, f"{did!r} is not a did:plc")
            try:
                op = request.json_body()
            except CheckError as exc:
                raise Rejected(400, exc.message) from None
            entry["operation"] = op
            accepted = self.submit(did, op, now)
            entry.update(status=200, cid=accepted["cid"])
            with self.lock:
                self.received.append(entry)
            request.reply(200, b"", content_type=None)
        except Rejected as exc:
            entry.update(status=exc.status, message=exc.message)
            with self.lock:
                self.received.append(entry)
            if exc.failure:
                self.fail(f"POST /{did}: {exc.status} {exc.message}")
            request.reply(exc.status, {"message": exc.message})

    def _get(self, request, did, rest):
        with self.lock:
            known = did in self.entries
        if not known:
            request.reply(404, {"message": f"DID not registered: {did}"})
            return
        if rest == []:
            with self.lock:
                frozen = self.frozen.get(did)
            document = frozen or self.document(did)
            if document is None:
                request.reply(410, {"message": f"DID not available: {did}"})
            else:
                request.reply(200, document, content_type="application/did+ld+json")
        elif rest == ["data"]:
            state = self.state(did)
            if not isinstance(state, dict):
                request.reply(410, {"message": f"DID not available: {did}"})
            else:
                request.reply(200, {"did": did, **state})
        elif rest == ["log"]:
            request.reply(200, [entry["operation"] for entry in self.active(did)])
        elif rest == ["log", "last"]:
            request.reply(200, self.last_op(did))
        elif rest == ["log", "audit"]:
            request.reply(200, self.audit_log(did))
        else:
            request.reply(404, {"message": f"not found: {request.url_path}"})


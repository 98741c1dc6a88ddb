"""Shared pieces of the loopback stand-ins: strict base64url, did:key, ECDSA (low-S, 64-byte r||s),
DAG-CBOR CIDs, service-auth JWTs, and a small threaded HTTP server base class.

Everything here is written for the interop suite from the specs (ATPROTO.md §7, §8, §11)."""

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import libipld
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HTTP_TIMEOUT = 5  # seconds, for every request a stand-in makes itself

# --- curves ------------------------------------------------------------------------------------

K256 = "k256"
P256 = "p256"
CURVES = {
    K256: {"curve": ec.SECP256K1(), "alg": "ES256K", "multicodec": b"\xe7\x01",
           "n": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141},
    P256: {"curve": ec.SECP256R1(), "alg": "ES256", "multicodec": b"\x80\x24",
           "n": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551},
}
ALG_CURVE = {info["alg"]: name for name, info in CURVES.items()}


class CheckError(Exception):
    """A validation failure: `error` is an XRPC-style name, the message says what was wrong."""

    def __init__(self, message, error="InvalidRequest"):
        super().__init__(message)
        self.error = error
        self.message = message


# --- base64url (strict) ------------------------------------------------------------------------

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode_strict(text, what="value"):
    """base64url without padding, with zero trailing bits (re-encoding must give the same text)."""
    if not isinstance(text, str):
        raise CheckError(f"{what} is not a string")
    if not _B64URL.fullmatch(text):
        raise CheckError(f"{what} is not unpadded base64url (bad characters or padding)")
    if len(text) % 4 == 1:
        raise CheckError(f"{what} has an impossible base64url length")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise CheckError(f"{what} has non-zero trailing bits (non-canonical base64url)")
    return data


# --- did:key -----------------------------------------------------------------------------------

class DidKey:
    """A parsed did:key: curve name, compressed point, and a `cryptography` public key."""

    def __init__(self, did_key, curve, point, public_key):
        self.did_key = did_key
        self.curve = curve
        self.point = point
        self.public_key = public_key

    @property
    def multibase(self):
        return self.did_key[len("did:key:"):]

    def __repr__(self):
        return f"DidKey({self.did_key})"


def parse_multikey(multibase, what="key"):
    if not isinstance(multibase, str) or not multibase.startswith("z"):
        raise CheckError(f"{what} {multibase!r} is not a base58btc multibase ('z…') multikey")
    try:
        _, raw = libipld.decode_multibase(multibase)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad key
        raise CheckError(f"{what} {multibase!r} is not valid base58btc: {exc}") from None
    for name, info in CURVES.items():
        prefix = info["multicodec"]
        if raw.startswith(prefix):
            point = raw[len(prefix):]
            if len(point) != 33 or point[0] not in (2, 3):
                raise CheckError(f"{what} {multibase!r} is not a 33-byte compressed {name} point")
            try:
                public_key = ec.EllipticCurvePublicKey.from_encoded_point(info["curve"], point)
            except ValueError:
                raise CheckError(f"{what} {multibase!r} is not a point on {name}") from None
            return DidKey("did:key:" + multibase, name, point, public_key)
    raise CheckError(f"{what} {multibase!r} has an unsupported multicodec (only k256 and p256 are allowed)")


def parse_did_key(did_key, what="did:key"):
    if not isinstance(did_key, str) or not did_key.startswith("did:key:"):
        raise CheckError(f"{what} {did_key!r} is not a did:key")
    return parse_multikey(did_key[len("did:key:"):], what)


def did_key_for(private_key):
    """The did:key of a `cryptography` EC private key (k256 or p256)."""
    public_key = private_key.public_key()
    name = K256 if isinstance(public_key.curve, ec.SECP256K1) else P256
    point = public_key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return "did:key:" + libipld.encode_multibase("z", CURVES[name]["multicodec"] + point)


def new_private_key(curve=K256):
    return ec.generate_private_key(CURVES[curve]["curve"])


# --- ECDSA -------------------------------------------------------------------------------------

def sign_raw(private_key, data):
    """ECDSA-SHA256 over `data`, as 64-byte r||s with low S (what atproto requires)."""
    name = K256 if isinstance(private_key.curve, ec.SECP256K1) else P256
    n = CURVES[name]["n"]
    r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
    if s > n // 2:
        s = n - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_raw(key, data, signature, what="signature"):
    """Checks a 64-byte r||s low-S ECDSA-SHA256 signature by `key` (a DidKey). Raises CheckError."""
    if len(signature) != 64:
        raise CheckError(f"{what} is {len(signature)} bytes, not a 64-byte r||s")
    n = CURVES[key.curve]["n"]
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < n and 0 < s < n):
        raise CheckError(f"{what} has r or s out of range")
    if s > n // 2:
        raise CheckError(f"{what} is high-S (malleable); atproto requires low-S")
    try:
        key.public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CheckError(f"{what} does not verify with {key.did_key}") from None


# --- DAG-CBOR and CIDs -------------------------------------------------------------------------

def dag_cbor(value):
    return libipld.encode_dag_cbor(value)


def cid_for_cbor(data):
    """CIDv1, dag-cbor codec, sha2-256, as a base32 ('b…') string."""
    return libipld.encode_cid(b"\x01\x71\x12\x20" + hashlib.sha256(data).digest())


def b32_lower(data):
    return base64.b32encode(data).decode().lower().rstrip("=")


# --- DID documents -----------------------------------------------------------------------------

def doc_signing_key(doc, did, fragment="#atproto"):
    """The verification method `fragment` of a DID document, per ATPROTO.md §8.1 (Multikey only)."""
    if not isinstance(doc, dict):
        raise CheckError("DID document is not a JSON object")
    if doc.get("id") != did:
        raise CheckError(f"DID document id {doc.get('id')!r} is not {did}")
    for method in doc.get("verificationMethod") or []:
        if not isinstance(method, dict):
            continue
        method_id = method.get("id", "")
        if method_id not in (fragment, did + fragment):
            continue
        if method.get("type") != "Multikey":
            raise CheckError(f"{method_id} has type {method.get('type')!r}, not Multikey")
        if method.get("controller") != did:
            raise CheckError(f"{method_id} controller {method.get('controller')!r} is not {did}")
        return parse_multikey(method.get("publicKeyMultibase"), f"{method_id} publicKeyMultibase")
    raise CheckError(f"DID document of {did} has no {fragment} verification method")


def doc_service(doc, fragment):
    for service in doc.get("service") or []:
        if isinstance(service, dict) and service.get("id", "").endswith(fragment):
            return service
    return None


def doc_handle(doc):
    for alias in doc.get("alsoKnownAs") or []:
        if isinstance(alias, str) and alias.startswith("at://"):
            return alias[len("at://"):]
    return None


# --- service-auth JWTs (ATPROTO.md §11) ----------------------------------------------------------

LONG_LIVED_LXMS = ("com.atproto.repo.uploadBlob",)
CLOCK_SKEW = 5


def make_service_jwt(private_key, iss, aud, lxm=None, exp=None, iat=None, jti=None, header=None, extra=None):
    """Builds and signs a service JWT (for self-tests and for calling the PDS with svc auth)."""
    now = int(time.time())
    iat = now if iat is None else iat
    name = K256 if isinstance(private_key.curve, ec.SECP256K1) else P256
    header = header or {"typ": "JWT", "alg": CURVES[name]["alg"]}
    payload = {"iat": iat, "iss": iss, "aud": aud, "exp": iat + 60 if exp is None else exp,
               "jti": secrets.token_hex(16) if jti is None else jti}
    if lxm is not None:
        payload["lxm"] = lxm
    payload.update(extra or {})
    signing_input = (b64url_encode(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url_encode(json.dumps(payload, separators=(",", ":")).encode()))
    return signing_input + "." + b64url_encode(sign_raw(private_key, signing_input.encode()))


def _jwt_json(segment, what):
    try:
        value = json.loads(b64url_decode_strict(segment, what))
    except CheckError as exc:
        raise CheckError(exc.message, "BadJwt") from None
    except ValueError:
        raise CheckError(f"{what} is not JSON", "BadJwt") from None
    if not isinstance(value, dict):
        raise CheckError(f"{what} is not a JSON object", "BadJwt")
    return value


class ServiceJwtVerifier:
    """Verifies incoming service-auth JWTs the way a careful AppView does, and remembers `jti`s.

    `resolve_doc(did)` returns the DID document of the issuer (a dict) or raises CheckError."""

    def __init__(self, resolve_doc, max_lifetime=60, long_lifetime=3600):
        self.resolve_doc = resolve_doc
        self.max_lifetime = max_lifetime
        self.long_lifetime = long_lifetime
        self.seen_jti = set()
        self.lock = threading.Lock()

    def verify(self, authorization, audiences, lxm, now=None):
        """Returns (header, payload) or raises CheckError (error names as the reference verifier)."""
        now = time.time() if now is None else now
        if not authorization:
            raise CheckError("no Authorization header", "AuthMissing")
        if not authorization.startswith("Bearer "):
            raise CheckError("Authorization is not a Bearer token", "AuthMissing")
        token = authorization[len("Bearer "):].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise CheckError("token is not a compact JWS with three parts", "BadJwt")
        header = _jwt_json(parts[0], "JWT header")
        payload = _jwt_json(parts[1], "JWT payload")

        alg = header.get("alg")
        if alg not in ALG_CURVE:
            raise CheckError(f"JWT alg {alg!r} is not ES256K or ES256", "BadJwt")
        if header.get("typ") != "JWT":
            raise CheckError(f"JWT typ {header.get('typ')!r} is not 'JWT'", "BadJwtType")
        kid = header.get("kid", "#atproto")
        if kid != "#atproto":
            raise CheckError(f"JWT kid {kid!r} is not #atproto", "BadJwt")

        iss = payload.get("iss")
        if not isinstance(iss, str) or not re.fullmatch(r"did:[a-z]+:[A-Za-z0-9._:%-]+", iss):
            raise CheckError(f"JWT iss {iss!r} is not a bare DID", "BadJwtIssuer")
        aud = payload.get("aud")
        if aud not in audiences:
            raise CheckError(f"JWT aud {aud!r} is not one of {sorted(audiences)}", "BadJwtAudience")
        if payload.get("lxm") != lxm:
            raise CheckError(f"JWT lxm {payload.get('lxm')!r} is not {lxm!r}", "BadJwtLexiconMethod")
        exp, iat = payload.get("exp"), payload.get("iat")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise CheckError(f"JWT exp {exp!r} is not an integer", "BadJwt")
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise CheckError(f"JWT iat {iat!r} is not an integer", "BadJwt")
        if exp <= now:
            raise CheckError(f"JWT expired {now - exp:.0f} s ago", "JwtExpired")
        if iat > now + CLOCK_SKEW:
            raise CheckError(f"JWT iat is {iat - now:.0f} s in the future", "BadJwt")
        limit = self.long_lifetime if lxm in LONG_LIVED_LXMS else self.max_lifetime
        if exp - iat > limit:
            raise CheckError(f"JWT lifetime exp - iat = {exp - iat} s exceeds {limit} s", "BadJwt")
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti:
            raise CheckError("JWT has no jti", "BadJwt")

        doc = self.resolve_doc(iss)
        key = doc_signing_key(doc, iss)
        if ALG_CURVE[alg] != key.curve:
            raise CheckError(f"JWT alg {alg} does not match the {key.curve} #atproto key", "BadJwtSignature")
        signature = b64url_decode_strict(parts[2], "JWT signature")
        try:
            verify_raw(key, f"{parts[0]}.{parts[1]}".encode(), signature, "JWT signature")
        except CheckError as exc:
            raise CheckError(exc.message, "BadJwtSignature") from None
        with self.lock:
            if jti in self.seen_jti:
                raise CheckError(f"JWT jti {jti!r} was already used (replay)", "BadJwt")
            self.seen_jti.add(jti)
        return header, payload


# --- HTTP server base --------------------------------------------------------------------------

def iso_now(timestamp=None):
    timestamp = time.time() if timestamp is None else timestamp
    seconds, millis = divmod(int(round(timestamp * 1000)), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class Handler(BaseHTTPRequestHandler):
    """Request handler that hands every request to `server.owner.handle(request)`."""

    protocol_version = "HTTP/1.1"
    timeout = 15  # idle keep-alive connections are closed after this

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        pass

    def _dispatch(self):
        owner = self.server.owner
        try:
            body = self._read_body()
        except CheckError as exc:
            owner.fail(f"{self.command} {self.path}: {exc.message}")
            self.reply(400, {"error": "InvalidRequest", "message": exc.message})
            return
        parsed = urllib.parse.urlsplit(self.path)
        self.url_path = parsed.path
        self.query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        self.body = body
        try:
            owner.handle(self)
        except Exception as exc:  # noqa: BLE001 - a stand-in bug must show up as a failure, not a hang
            owner.fail(f"{self.command} {self.path}: stand-in error {type(exc).__name__}: {exc}")
            try:
                self.reply(500, {"error": "InternalServerError", "message": f"stand-in error: {exc}"})
            except Exception:  # noqa: BLE001
                pass

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(1024).strip()
                try:
                    size = int(line.split(b";")[0], 16)
                except ValueError:
                    raise CheckError(f"bad chunk size line {line!r}") from None
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(16)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        return self.rfile.read(int(length))

    def json_body(self):
        """The request body parsed as a JSON object, or raises CheckError."""
        content_type = self.headers.get("Content-Type", "")
        if not content_type.split(";")[0].strip().lower() == "application/json":
            raise CheckError(f"Content-Type is {content_type!r}, not application/json")
        try:
            value = json.loads(self.body)
        except ValueError:
            raise CheckError("body is not JSON") from None
        if not isinstance(value, dict):
            raise CheckError("body is not a JSON object")
        return value

    def reply(self, status, body=None, content_type="application/json", headers=None):
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body or b""
        self.send_response(status)
        if data or content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class StandinServer:
    """A threaded HTTP server on 127.0.0.1 with a free port; subclasses implement `handle(request)`.

    `log` holds what was received, `failures` every validation failure (tests assert it is empty)."""

    name = "stand-in"

    def __init__(self):
        self.lock = threading.RLock()
        self.log = []
        self.failures = []
        self._httpd = None
        self._thread = None

    def start(self):
        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def record(self, entry):
        with self.lock:
            self.log.append(entry)

    def fail(self, message):
        with self.lock:
            self.failures.append(f"[{self.name}] {message}")

    def handle(self, request):  # pragma: no cover - overridden
        request.reply(404, {"error": "NotFound", "message": "not found"})

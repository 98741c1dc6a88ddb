"""Blob upload (com.atproto.repo.uploadBlob), download (com.atproto.sync.getBlob), profile avatars,
and the upload size limit (the main server runs with PDS_BLOB_UPLOAD_LIMIT lowered)."""

import base64
import hashlib
import struct
import zlib

import pytest
from atproto.exceptions import BadRequestError

from conftest import assert_sdk_error, assert_xrpc_error, unique

RAW = 0x55
SHA2_256 = 0x12
UPLOAD = "com.atproto.repo.uploadBlob"


def png(width=32, height=32, seed=0):
    """A valid RGB PNG, generated (no image library needed)."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    rows = b"".join(
        b"\x00" + bytes(channel for x in range(width)
                         for channel in ((x * 8 + seed) % 256, (y * 8) % 256, (x + y + seed) % 256))
        for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def raw_cid(data):
    """CIDv1, raw codec, sha2-256, base32: the CID of a blob."""
    digest = hashlib.sha256(data).digest()
    return "b" + base64.b32encode(bytes([1, RAW, SHA2_256, 32]) + digest).decode().lower().rstrip("=")


def upload_raw(server, token, data, content_type="application/octet-stream"):
    return server.post(UPLOAD, data=data, token=token, headers={"Content-Type": content_type})


def require_upload_blob(response):
    assert response.status_code != 501, (
        "com.atproto.repo.uploadBlob is not implemented by this server (501 MethodNotImplemented); "
        "blob tests need it")


def test_upload_blob_with_the_sdk_sniffs_png(server, client):
    image = png(seed=1)
    probe = upload_raw(server, client._session.access_jwt, b"probe")
    require_upload_blob(probe)
    # The SDK sends Content-Type */*: the server sniffs the real type.
    uploaded = client.upload_blob(image)
    assert uploaded.blob.ref.link == raw_cid(image)
    assert uploaded.blob.mime_type == "image/png"
    assert uploaded.blob.size == len(image)


def test_upload_blob_raw_output(server, token):
    data = b"plain bytes " + unique().encode()
    response = upload_raw(server, token, data, "text/plain")
    require_upload_blob(response)
    assert response.status_code == 200, response.text
    assert response.json() == {"blob": {"$type": "blob", "ref": {"$link": raw_cid(data)},
                                        "mimeType": "text/plain", "size": len(data)}}


def test_profile_with_avatar(server, client, did):
    image = png(48, 48, seed=7)
    probe = upload_raw(server, client._session.access_jwt, b"probe")
    require_upload_blob(probe)
    blob = client.upload_blob(image).blob
    record = {"$type": "app.bsky.actor.profile", "displayName": "Alice", "description": "with an avatar",
              "avatar": {"$type": "blob", "ref": {"$link": blob.ref.link}, "mimeType": blob.mime_type,
                         "size": blob.size}}
    put = client.com.atproto.repo.put_record(
        {"repo": did, "collection": "app.bsky.actor.profile", "rkey": "self", "record": record})
    assert put.uri == f"at://{did}/app.bsky.actor.profile/self"

    stored = server.get("com.atproto.repo.getRecord",
                        {"repo": did, "collection": "app.bsky.actor.profile", "rkey": "self"}).json()
    assert stored["cid"] == put.cid
    assert stored["value"]["avatar"] == {"$type": "blob", "ref": {"$link": raw_cid(image)},
                                         "mimeType": "image/png", "size": len(image)}
    fetched = client.com.atproto.repo.get_record({"repo": did, "collection": "app.bsky.actor.profile", "rkey": "self"})
    assert fetched.value.avatar.ref.link == raw_cid(image)

    # The blob is served back byte for byte, with the reference server's safety headers.
    response = server.get("com.atproto.sync.getBlob", {"did": did, "cid": raw_cid(image)})
    assert response.status_code == 200, response.text
    assert response.content == image
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Length"] == str(len(image))
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert "default-src 'none'" in response.headers.get("Content-Security-Policy", "")

    listed = server.get("com.atproto.sync.listBlobs", {"did": did})
    assert listed.status_code == 200, listed.text
    assert raw_cid(image) in listed.json()["cids"]


def test_post_with_image_embed(server, client, did):
    image = png(16, 24, seed=3)
    require_upload_blob(upload_raw(server, client._session.access_jwt, b"probe"))
    post = client.send_image(text=f"an image {unique()}", image=image, image_alt="generated",
                             profile_identify=did)
    value = server.get("com.atproto.repo.getRecord", {
        "repo": did, "collection": "app.bsky.feed.post", "rkey": post.uri.rsplit("/", 1)[1]}).json()["value"]
    embedded = value["embed"]["images"][0]["image"]
    assert embedded["ref"] == {"$link": raw_cid(image)}
    assert server.get("com.atproto.sync.getBlob", {"did": did, "cid": raw_cid(image)}).content == image


def test_record_referencing_an_unknown_blob(server, client, did):
    missing = raw_cid(b"never uploaded " + unique().encode())
    with pytest.raises(BadRequestError) as excinfo:
        client.com.atproto.repo.create_record({"repo": did, "collection": "app.bsky.feed.post", "record": {
            "$type": "app.bsky.feed.post", "text": "dangling", "createdAt": "2026-01-01T00:00:00.000Z",
            "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": {
                "$type": "blob", "ref": {"$link": missing}, "mimeType": "image/png", "size": 10}}]}}})
    assert_sdk_error(excinfo, 400, "BlobNotFound")


def test_record_with_wrong_blob_mime_type(server, client, did):
    image = png(seed=11)
    require_upload_blob(upload_raw(server, client._session.access_jwt, b"probe"))
    blob = client.upload_blob(image).blob
    with pytest.raises(BadRequestError) as excinfo:
        client.com.atproto.repo.put_record({"repo": did, "collection": "app.bsky.actor.profile", "rkey": "self",
                                            "record": {"avatar": {"$type": "blob", "ref": {"$link": blob.ref.link},
                                                                  "mimeType": "image/jpeg", "size": blob.size}}})
    assert_sdk_error(excinfo, 400, "InvalidMimeType")


def test_blob_at_the_limit_is_accepted(server, token, blob_limit):
    data = bytes(range(256)) * (blob_limit // 256) + b"\x00" * (blob_limit % 256)
    assert len(data) == blob_limit
    response = upload_raw(server, token, data)
    require_upload_blob(response)
    assert response.status_code == 200, response.text
    assert response.json()["blob"]["size"] == blob_limit


def test_blob_over_the_limit_is_refused(server, token, blob_limit):
    response = upload_raw(server, token, b"\x01" * (blob_limit + 1))
    require_upload_blob(response)
    assert_xrpc_error(response, 413, "PayloadTooLarge")


def test_streamed_blob_over_the_limit_is_refused(server, token, blob_limit):
    """Chunked upload without Content-Length: the limit is enforced while streaming."""
    def chunks():
        remaining = blob_limit + 1
        while remaining:
            size = min(65536, remaining)
            remaining -= size
            yield b"\x02" * size
    response = upload_raw(server, token, chunks())
    require_upload_blob(response)
    assert_xrpc_error(response, 413, "PayloadTooLarge")


def test_upload_blob_needs_auth(server):
    response = server.post(UPLOAD, data=b"anonymous", headers={"Content-Type": "text/plain"})
    require_upload_blob(response)
    assert_xrpc_error(response, 401, "AuthMissing")


def test_get_blob_unknown(server, did):
    response = server.get("com.atproto.sync.getBlob", {"did": did, "cid": raw_cid(b"nothing " + unique().encode())})
    assert response.status_code != 501, "com.atproto.sync.getBlob is not implemented (501)"
    # The reference server answers a plain InvalidRequest "Blob not found"; the Lexicon names BlobNotFound.
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("BlobNotFound", "InvalidRequest")
    assert "not found" in response.json()["message"].lower()

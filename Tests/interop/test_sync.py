"""The sync read endpoints a relay and the AppView use (issue 4 point 4): getRepoStatus, listRepos,
getBlocks, getRepo with `since`, listBlobs with `since`, getLatestCommit; and the blob life cycle a
record drives (a blob goes when its last referencing record goes)."""

import libipld

import mst
from conftest import assert_xrpc_error, unique
from repo_check import _varint, cid_str
from test_cbor import car_raw_blocks
from test_blobs import png, upload_raw

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"


def _create(server, token, did, text):
    response = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": POST,
        "record": {"$type": POST, "text": text, "createdAt": "2026-01-01T00:00:00.000Z"}}, token=token)
    assert response.status_code == 200, response.text
    return response.json()


def _car(response):
    """(header, {CID string: decoded block}) of a CARv1 response, each block checked against its CID.
    Read section by section: getBlocks answers a CAR with no roots (as the reference does), which
    libipld's decode_car refuses."""
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/vnd.ipld.car")
    data = response.content
    length, offset = _varint(data, 0)
    header = libipld.decode_dag_cbor(data[offset:offset + length])
    assert header["version"] == 1
    header["roots"] = [cid_str(root) if isinstance(root, bytes) else str(root) for root in header["roots"]]
    blocks = {}
    for cid, block in car_raw_blocks(data).items():
        assert cid == mst.cid_of(block), "a CAR block does not hash to its CID"
        blocks[cid_str(cid)] = libipld.decode_dag_cbor(block)
    return header, blocks


def test_get_latest_commit_and_repo_status_agree(server, token, did):
    latest = server.get("com.atproto.sync.getLatestCommit", {"did": did})
    assert latest.status_code == 200, latest.text
    status = server.get("com.atproto.sync.getRepoStatus", {"did": did})
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["did"] == did and body["active"] is True
    assert body["rev"] == latest.json()["rev"]
    assert_xrpc_error(server.get("com.atproto.sync.getRepoStatus", {"did": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}), 400, "RepoNotFound")


def test_list_repos_names_the_one_repo(server, did):
    response = server.get("com.atproto.sync.listRepos", {"limit": 10})
    assert response.status_code == 200, response.text
    repos = response.json()["repos"]
    assert [repo["did"] for repo in repos] == [did]
    latest = server.get("com.atproto.sync.getLatestCommit", {"did": did}).json()
    assert repos[0]["head"] == latest["cid"] and repos[0]["rev"] == latest["rev"] and repos[0]["active"] is True


def test_get_blocks_returns_the_asked_blocks_and_refuses_unknown_ones(server, token, did):
    created = _create(server, token, did, f"blocks {unique()}")
    commit_cid = created["commit"]["cid"]
    _, blocks = _car(server.get("com.atproto.sync.getBlocks", {"did": did, "cids": [created["cid"], commit_cid]}))
    assert set(blocks) == {created["cid"], commit_cid}
    assert blocks[created["cid"]]["$type"] == POST
    assert blocks[commit_cid]["did"] == did
    missing = cid_str(mst.cid_of(f"no such block {unique()}".encode()))
    # The Lexicon's name for it (the reference answers a plain InvalidRequest).
    assert_xrpc_error(server.get("com.atproto.sync.getBlocks", {"did": did, "cids": [missing]}), 400, "BlockNotFound")


def test_get_repo_since_is_a_diff(server, token, did):
    before = server.get("com.atproto.sync.getLatestCommit", {"did": did}).json()
    created = [_create(server, token, did, f"since {unique()} {i}") for i in range(3)]
    header, blocks = _car(server.get("com.atproto.sync.getRepo", {"did": did, "since": before["rev"]}))
    head = server.get("com.atproto.sync.getLatestCommit", {"did": did}).json()
    assert header["roots"] == [head["cid"]]
    for record in created:
        assert record["cid"] in blocks
    # Every still-live block written after `since` (the reference's repoRev > since). Commits
    # delete the blocks they replace, the previous commit among them (the reference's
    # formatCommit adds it to removedCids), so only the head commit is left.
    assert created[-1]["commit"]["cid"] == head["cid"] and head["cid"] in blocks
    for record in created[:-1]:
        assert record["commit"]["cid"] not in blocks, "an intermediate commit outlived its successor"
    _, full = _car(server.get("com.atproto.sync.getRepo", {"did": did}))
    assert before["cid"] not in blocks, "the diff holds only blocks written after `since`"
    older = set(full) - set(blocks)
    assert older, "the full export has blocks from before `since` that the diff leaves out"


def test_list_blobs_since_and_blob_garbage_collection(server, token, did):
    before = server.get("com.atproto.sync.getLatestCommit", {"did": did}).json()
    upload = upload_raw(server, token, png(8, 8, seed=42), "image/png")
    assert upload.status_code == 200, upload.text
    blob = upload.json()["blob"]
    cid = blob["ref"]["$link"]
    response = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": POST, "record": {
            "$type": POST, "text": "with an image", "createdAt": "2026-01-01T00:00:00.000Z",
            "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob}]}}}, token=token)
    assert response.status_code == 200, response.text
    rkey = response.json()["uri"].rsplit("/", 1)[1]

    since = server.get("com.atproto.sync.listBlobs", {"did": did, "since": before["rev"]})
    assert since.status_code == 200, since.text
    assert since.json()["cids"] == [cid]
    assert cid in server.get("com.atproto.sync.listBlobs", {"did": did, "limit": 1000}).json()["cids"]
    assert server.get("com.atproto.sync.getBlob", {"did": did, "cid": cid}).status_code == 200

    # Its only record goes: the blob goes with it (REFERENCE-PDS.md §8, GC on delete).
    deleted = server.post("com.atproto.repo.deleteRecord", {"repo": did, "collection": POST, "rkey": rkey}, token=token)
    assert deleted.status_code == 200, deleted.text
    assert cid not in server.get("com.atproto.sync.listBlobs", {"did": did, "limit": 1000}).json()["cids"]
    gone = server.get("com.atproto.sync.getBlob", {"did": did, "cid": cid})
    assert gone.status_code == 400, gone.text
    assert gone.json()["error"] in ("BlobNotFound", "InvalidRequest")

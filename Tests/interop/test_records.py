"""Record writes and reads: posts, likes, a profile, batches, paging, swaps."""

from datetime import datetime
import pytest
from atproto import models
from atproto.exceptions import BadRequestError

from conftest import assert_sdk_error, assert_xrpc_error, unique

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
PROFILE = "app.bsky.actor.profile"


def _latest_commit(server, did):
    response = server.get("com.atproto.sync.getLatestCommit", {"did": did})
    assert response.status_code == 200, response.text
    return response.json()


def _get_record(server, did, collection, rkey):
    return server.get("com.atproto.repo.getRecord", {"repo": did, "collection": collection, "rkey": rkey})


def _rkey(uri):
    return uri.rsplit("/", 1)[1]


def create_post(client, did, text):
    """A post written with the SDK's generic createRecord (no `validate`, unlike `send_post`)."""
    return client.com.atproto.repo.create_record({"repo": did, "collection": POST, "record": {
        "$type": POST, "text": text, "createdAt": client.get_current_time_iso()}})


def test_send_post_and_read_it_back(server, client, did):
    text = f"hello from the interop suite {unique()}"
    post = client.send_post(text, profile_identify=did)
    assert post.uri.startswith(f"at://{did}/{POST}/")
    assert post.cid.startswith("bafyrei")

    fetched = client.com.atproto.repo.get_record({"repo": did, "collection": POST, "rkey": _rkey(post.uri)})
    assert fetched.uri == post.uri
    assert fetched.cid == post.cid
    assert fetched.value.text == text

    raw = _get_record(server, did, POST, _rkey(post.uri))
    assert raw.status_code == 200
    value = raw.json()["value"]
    assert value["$type"] == POST
    assert value["text"] == text
    # Stored as written: the SDK's timestamp (`+00:00`), not rewritten by the server.
    assert datetime.fromisoformat(value["createdAt"]).tzinfo is not None

    # by handle as well as by DID
    by_handle = _get_record(server, server.handle, POST, _rkey(post.uri))
    assert by_handle.json() == raw.json()


def test_validate_true_accepts_a_valid_post(server, token, did):
    """`send_post`/`like` in the SDK send `validate: true`; the reference validates app.bsky records
    against its bundled Lexicons and answers `validationStatus: "valid"`."""
    response = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": POST, "validate": True,
        "record": {"$type": POST, "text": "validated", "createdAt": "2026-01-01T00:00:00.000Z"}}, token=token)
    assert response.status_code == 200, response.text
    assert response.json()["validationStatus"] == "valid"


def test_validate_unset_on_unknown_collection_is_unknown(server, token, did):
    response = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": "com.example.interop.thing", "record": {"a": 1}}, token=token)
    assert response.status_code == 200, response.text
    assert response.json()["validationStatus"] == "unknown"


def test_validate_true_on_unknown_collection_is_refused(server, token, did):
    response = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": "com.example.interop.thing", "validate": True, "record": {"a": 1}}, token=token)
    assert_xrpc_error(response, 400, "InvalidRequest")


def _record_count(server, did, collection):
    response = server.get("com.atproto.repo.listRecords", {"repo": did, "collection": collection, "limit": 100})
    assert response.status_code == 200, response.text
    return len(response.json()["records"])


@pytest.mark.parametrize("name,record,rkey,fragment", [
    ("text over 300 graphemes", {"text": "a" * 301}, None, "Record/text must not be longer than 300 graphemes"),
    ("missing createdAt", {"text": "x", "createdAt": None}, None, "createdAt"),
    ("bad datetime", {"text": "x", "createdAt": "yesterday"}, None, "Record/createdAt must be a valid datetime"),
    ("too many langs", {"text": "x", "langs": ["en", "de", "fr", "es"]}, None, "Record/langs"),
    ("bad language", {"text": "x", "langs": ["not a tag"]}, None, "Record/langs/0"),
    ("embed without $type", {"text": "x", "embed": {"images": []}}, None, "Record/embed"),
    ("image with text mime", {"text": "x", "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": {
        "$type": "blob", "ref": {"$link": "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},
        "mimeType": "text/html", "size": 10}}]}}, None, "mime"),
    ("post under a non-TID key", {"text": "x"}, "not-a-tid", "Record key"),
])
def test_invalid_app_bsky_records_are_refused_and_not_stored(server, token, did, name, record, rkey, fragment):
    """With `validate` unset, a collection with a known Lexicon is validated (REFERENCE-PDS.md §1,
    createRecord); a bad record is a 400 InvalidRequest naming the field, and nothing is written."""
    body = {"$type": POST, "createdAt": "2026-01-01T00:00:00.000Z", **record}
    body = {k: v for k, v in body.items() if v is not None}
    before = _record_count(server, did, POST)
    head = _latest_commit(server, did)
    request = {"repo": did, "collection": POST, "record": body}
    if rkey:
        request["rkey"] = rkey
    response = server.post("com.atproto.repo.createRecord", request, token=token)
    error = assert_xrpc_error(response, 400, "InvalidRequest")
    assert error["message"].startswith(f"Invalid {POST} record: "), error
    assert fragment.lower() in error["message"].lower(), error
    assert _latest_commit(server, did) == head
    assert _record_count(server, did, POST) == before


def test_validate_false_stores_without_checking(server, token, did):
    """`validate: false` skips the Lexicon (the reference omits `validationStatus` then)."""
    response = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": POST, "validate": False,
        "record": {"$type": POST, "text": "a" * 301, "createdAt": "2026-01-01T00:00:00.000Z"}}, token=token)
    assert response.status_code == 200, response.text
    assert "validationStatus" not in response.json()


def test_profile_must_live_at_self(server, token, did):
    response = server.post("com.atproto.repo.putRecord", {
        "repo": did, "collection": PROFILE, "rkey": "other",
        "record": {"$type": PROFILE, "displayName": "Alice"}}, token=token)
    assert_xrpc_error(response, 400, "InvalidRequest")


def test_apply_writes_validates_each_write_and_writes_none_on_failure(server, token, did):
    head = _latest_commit(server, did)
    good = {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
            "value": {"$type": POST, "text": "fine", "createdAt": "2026-01-01T00:00:00.000Z"}}
    bad = {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
           "value": {"$type": POST, "text": 7, "createdAt": "2026-01-01T00:00:00.000Z"}}
    response = server.post("com.atproto.repo.applyWrites", {"repo": did, "writes": [good, bad]}, token=token)
    error = assert_xrpc_error(response, 400, "InvalidRequest")
    assert "Record/text must be a string" in error["message"]
    assert _latest_commit(server, did) == head

    response = server.post("com.atproto.repo.applyWrites", {"repo": did, "writes": [good]}, token=token)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["validationStatus"] == "valid"


def test_create_record_output(server, client, did):
    rkey = unique("r")
    created = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": "com.example.interop.thing", "rkey": rkey,
        "record": {"name": "thing", "count": 3},
    }, token=client._session.access_jwt)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["uri"] == f"at://{did}/com.example.interop.thing/{rkey}"
    assert body["validationStatus"] == "unknown"
    assert set(body["commit"]) == {"cid", "rev"}
    assert body["commit"] == _latest_commit(server, did)
    stored = _get_record(server, did, "com.example.interop.thing", rkey).json()
    # `$type` is filled in from the collection.
    assert stored == {"uri": body["uri"], "cid": body["cid"],
                      "value": {"$type": "com.example.interop.thing", "name": "thing", "count": 3}}


def test_like_and_unlike(server, client, did):
    post = client.send_post(f"like me {unique()}", profile_identify=did)
    # What `client.like` does, with the DID given (the SDK takes it from app.bsky.actor.getProfile,
    # which a PDS without an AppView does not serve).
    like = client.app.bsky.feed.like.create(did, models.AppBskyFeedLike.Record(
        created_at=client.get_current_time_iso(),
        subject=models.ComAtprotoRepoStrongRef.Main(uri=post.uri, cid=post.cid)))
    assert like.uri.startswith(f"at://{did}/{LIKE}/")
    value = _get_record(server, did, LIKE, _rkey(like.uri)).json()["value"]
    # Stored as the SDK wrote it (its models add the ref's `$type`).
    assert {k: v for k, v in value["subject"].items() if k != "$type"} == {"uri": post.uri, "cid": post.cid}
    assert value["$type"] == LIKE

    assert client.unlike(like.uri) is True
    assert_xrpc_error(_get_record(server, did, LIKE, _rkey(like.uri)), 400, "RecordNotFound")


def test_profile_put_update_and_no_op(server, client, did):
    record = {"$type": PROFILE, "displayName": "Alice", "description": f"interop {unique()}"}
    first = client.com.atproto.repo.put_record({"repo": did, "collection": PROFILE, "rkey": "self", "record": record})
    assert first.uri == f"at://{did}/{PROFILE}/self"
    assert first.commit is not None

    # Same content again: no-op, no commit, same CID.
    head = _latest_commit(server, did)
    again = client.com.atproto.repo.put_record({"repo": did, "collection": PROFILE, "rkey": "self", "record": record})
    assert again.cid == first.cid
    assert again.commit is None
    assert _latest_commit(server, did) == head

    # An update with the right swapRecord.
    updated = dict(record, displayName="Alice (updated)")
    second = client.com.atproto.repo.put_record(
        {"repo": did, "collection": PROFILE, "rkey": "self", "record": updated, "swap_record": first.cid})
    assert second.cid != first.cid
    fetched = client.com.atproto.repo.get_record({"repo": did, "collection": PROFILE, "rkey": "self"})
    assert fetched.cid == second.cid
    assert fetched.value.display_name == "Alice (updated)"
    # The old version is no longer served.
    old = server.get("com.atproto.repo.getRecord",
                     {"repo": did, "collection": PROFILE, "rkey": "self", "cid": first.cid})
    assert_xrpc_error(old, 400, "RecordNotFound")


def test_delete_record(server, client, did):
    post = create_post(client, did, f"to be deleted {unique()}")
    rkey = _rkey(post.uri)
    deleted = client.com.atproto.repo.delete_record({"repo": did, "collection": POST, "rkey": rkey})
    assert deleted.commit is not None
    assert_xrpc_error(_get_record(server, did, POST, rkey), 400, "RecordNotFound")
    # Deleting a missing record is a no-op without a commit.
    again = client.com.atproto.repo.delete_record({"repo": did, "collection": POST, "rkey": rkey})
    assert again.commit is None


def test_apply_writes_batch(server, client, did):
    keep, change, drop = unique("a"), unique("b"), unique("c")
    collection = "com.example.interop.batch"
    client.com.atproto.repo.apply_writes({"repo": did, "writes": [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": collection, "rkey": change, "value": {"n": 1}},
        {"$type": "com.atproto.repo.applyWrites#create", "collection": collection, "rkey": drop, "value": {"n": 2}},
    ]})
    result = server.post("com.atproto.repo.applyWrites", {"repo": did, "writes": [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": collection, "rkey": keep, "value": {"n": 0}},
        {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
         "value": {"text": "from applyWrites", "createdAt": "2026-01-01T00:00:00.000Z"}},
        {"$type": "com.atproto.repo.applyWrites#update", "collection": collection, "rkey": change, "value": {"n": 10}},
        {"$type": "com.atproto.repo.applyWrites#delete", "collection": collection, "rkey": drop},
    ]}, token=client._session.access_jwt)
    assert result.status_code == 200, result.text
    body = result.json()
    assert [r["$type"] for r in body["results"]] == [
        "com.atproto.repo.applyWrites#createResult", "com.atproto.repo.applyWrites#createResult",
        "com.atproto.repo.applyWrites#updateResult", "com.atproto.repo.applyWrites#deleteResult"]
    assert body["results"][0]["uri"] == f"at://{did}/{collection}/{keep}"
    assert body["results"][1]["uri"].startswith(f"at://{did}/{POST}/")
    assert body["commit"] == _latest_commit(server, did)

    assert _get_record(server, did, collection, keep).json()["value"] == {"$type": collection, "n": 0}
    assert _get_record(server, did, collection, change).json()["value"] == {"$type": collection, "n": 10}
    assert_xrpc_error(_get_record(server, did, collection, drop), 400, "RecordNotFound")
    created_post = server.get("com.atproto.repo.getRecord", {
        "repo": did, "collection": POST, "rkey": _rkey(body["results"][1]["uri"])})
    assert created_post.json()["cid"] == body["results"][1]["cid"]


def test_apply_writes_is_atomic(server, client, did):
    rkey = unique("atomic")
    with pytest.raises(BadRequestError):
        client.com.atproto.repo.apply_writes({"repo": did, "writes": [
            {"$type": "com.atproto.repo.applyWrites#create", "collection": POST, "rkey": rkey,
             "value": {"text": "never stored", "createdAt": "2026-01-01T00:00:00.000Z"}},
            {"$type": "com.atproto.repo.applyWrites#create", "collection": POST, "rkey": "bad rkey",
             "value": {"text": "bad key", "createdAt": "2026-01-01T00:00:00.000Z"}},
        ]})
    assert_xrpc_error(_get_record(server, did, POST, rkey), 400, "RecordNotFound")


@pytest.fixture(scope="module")
def paged_collection(client, did):
    """A collection of 12 records with keys k00..k11."""
    collection = f"com.example.interop.p{unique('')}"
    client.com.atproto.repo.apply_writes({"repo": did, "writes": [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": collection, "rkey": f"k{i:02d}",
         "value": {"index": i}}
        for i in range(12)
    ]})
    return collection


def _pages(client, did, collection, limit, reverse=False):
    pages, cursor = [], None
    for _ in range(20):
        params = {"repo": did, "collection": collection, "limit": limit, "reverse": reverse}
        if cursor:
            params["cursor"] = cursor
        page = client.com.atproto.repo.list_records(params)
        pages.append([_rkey(record.uri) for record in page.records])
        cursor = page.cursor
        if not cursor:
            return pages
    raise AssertionError("paging did not end")


def test_list_records_pages_newest_first(client, did, paged_collection):
    pages = _pages(client, did, paged_collection, 5)
    assert [len(page) for page in pages] == [5, 5, 2]
    assert sum(pages, []) == [f"k{i:02d}" for i in reversed(range(12))]


def test_list_records_reverse(client, did, paged_collection):
    pages = _pages(client, did, paged_collection, 5, reverse=True)
    assert sum(pages, []) == [f"k{i:02d}" for i in range(12)]


def test_list_records_exact_multiple_of_limit(client, did, paged_collection):
    pages = _pages(client, did, paged_collection, 4)
    assert sum(pages, []) == [f"k{i:02d}" for i in reversed(range(12))]
    assert all(len(page) == 4 for page in pages[:3])
    assert pages[3:] in ([], [[]])


def test_list_records_content(server, did, paged_collection):
    response = server.get("com.atproto.repo.listRecords", {"repo": did, "collection": paged_collection, "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["cursor"] == "k10"
    first = body["records"][0]
    assert first["uri"] == f"at://{did}/{paged_collection}/k11"
    assert first["value"] == {"$type": paged_collection, "index": 11}
    single = _get_record(server, did, paged_collection, "k11").json()
    assert single["cid"] == first["cid"]


def test_list_records_of_unknown_collection_is_empty(server, did):
    response = server.get("com.atproto.repo.listRecords", {"repo": did, "collection": "com.example.interop.none"})
    assert response.status_code == 200
    assert response.json() == {"records": []}


def test_describe_repo(server, client, did, paged_collection):
    create_post(client, did, f"so app.bsky.feed.post exists {unique()}")
    described = client.com.atproto.repo.describe_repo({"repo": server.handle})
    assert described.did == did
    assert described.handle == server.handle
    assert described.handle_is_correct is True
    assert POST in described.collections
    assert paged_collection in described.collections
    assert described.collections == sorted(described.collections)
    raw = server.get("com.atproto.repo.describeRepo", {"repo": did}).json()
    assert raw["didDoc"]["id"] == did
    assert f"at://{server.handle}" in raw["didDoc"]["alsoKnownAs"]


def test_resolve_handle(server, did):
    response = server.get("com.atproto.identity.resolveHandle", {"handle": server.handle})
    assert response.status_code == 200
    assert response.json() == {"did": did}
    assert_xrpc_error(server.get("com.atproto.identity.resolveHandle", {"handle": "nobody.test"}), 400, "HandleNotFound")


# --- swaps -------------------------------------------------------------------------------------------

@pytest.fixture()
def swap_target(client, did):
    rkey = unique("swap")
    created = client.com.atproto.repo.create_record(
        {"repo": did, "collection": "com.example.interop.swap", "rkey": rkey, "record": {"v": 1}})
    return rkey, created.cid


def test_put_record_with_stale_swap_record(client, did, swap_target):
    rkey, cid = swap_target
    client.com.atproto.repo.put_record(
        {"repo": did, "collection": "com.example.interop.swap", "rkey": rkey, "record": {"v": 2}, "swap_record": cid})
    with pytest.raises(BadRequestError) as excinfo:
        client.com.atproto.repo.put_record(
            {"repo": did, "collection": "com.example.interop.swap", "rkey": rkey, "record": {"v": 3}, "swap_record": cid})
    assert_sdk_error(excinfo, 400, "InvalidSwap")


def test_put_record_swap_null_on_existing_record(server, token, did, swap_target):
    rkey, _ = swap_target
    response = server.post("com.atproto.repo.putRecord", {
        "repo": did, "collection": "com.example.interop.swap", "rkey": rkey, "record": {"v": 9}, "swapRecord": None,
    }, token=token)
    assert_xrpc_error(response, 400, "InvalidSwap")


def test_delete_record_with_wrong_swap_record(server, token, did, swap_target):
    rkey, cid = swap_target
    other = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": "com.example.interop.swap", "record": {"other": True}}, token=token).json()["cid"]
    response = server.post("com.atproto.repo.deleteRecord", {
        "repo": did, "collection": "com.example.interop.swap", "rkey": rkey, "swapRecord": other}, token=token)
    assert_xrpc_error(response, 400, "InvalidSwap")
    response = server.post("com.atproto.repo.deleteRecord", {
        "repo": did, "collection": "com.example.interop.swap", "rkey": rkey, "swapRecord": cid}, token=token)
    assert response.status_code == 200, response.text


def test_swap_commit(server, client, token, did):
    head = _latest_commit(server, did)
    ok = server.post("com.atproto.repo.createRecord", {
        "repo": did, "collection": "com.example.interop.swap", "record": {"v": "commit"}, "swapCommit": head["cid"]},
        token=token)
    assert ok.status_code == 200, ok.text
    # `head` is now stale.
    for nsid, body in [
        ("com.atproto.repo.createRecord", {"collection": "com.example.interop.swap", "record": {"v": 0}}),
        ("com.atproto.repo.putRecord", {"collection": "com.example.interop.swap", "rkey": "x", "record": {"v": 0}}),
        ("com.atproto.repo.deleteRecord", {"collection": "com.example.interop.swap", "rkey": _rkey(ok.json()["uri"])}),
        ("com.atproto.repo.applyWrites", {"writes": [
            {"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.interop.swap", "value": {}}]}),
    ]:
        response = server.post(nsid, dict(body, repo=did, swapCommit=head["cid"]), token=token)
        assert_xrpc_error(response, 400, "InvalidSwap")
    with pytest.raises(BadRequestError) as excinfo:
        client.com.atproto.repo.create_record({"repo": did, "collection": "com.example.interop.swap",
                                               "record": {"v": 0}, "swap_commit": head["cid"]})
    assert_sdk_error(excinfo, 400, "InvalidSwap")
    # Nothing was written by the refused requests.
    assert _latest_commit(server, did)["cid"] == ok.json()["commit"]["cid"]


def test_apply_writes_result_types_follow_each_write_position(server, token, did):
    """createResult/updateResult/deleteResult come from the write at the same position, even when
    two writes in one batch touch the same path."""
    collection = "com.example.interop.batch"
    rkey = unique("b")
    write = lambda kind, value=None: {k: v for k, v in {
        "$type": f"com.atproto.repo.applyWrites#{kind}", "collection": collection, "rkey": rkey,
        "value": value}.items() if v is not None}
    response = server.post("com.atproto.repo.applyWrites", {"repo": did, "writes": [
        write("create", {"n": 1}), write("update", {"n": 2})]}, token=token)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["$type"] for r in results] == [
        "com.atproto.repo.applyWrites#createResult", "com.atproto.repo.applyWrites#updateResult"]
    stored = _get_record(server, did, collection, rkey).json()
    assert stored["value"]["n"] == 2 and stored["cid"] == results[1]["cid"]

    response = server.post("com.atproto.repo.applyWrites", {"repo": did, "writes": [
        write("delete"), write("create", {"n": 3})]}, token=token)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["$type"] for r in results] == [
        "com.atproto.repo.applyWrites#deleteResult", "com.atproto.repo.applyWrites#createResult"]
    assert _get_record(server, did, collection, rkey).json()["value"]["n"] == 3

"""The outbound guard against server-side request forgery (issue 11): a server started WITHOUT the
test-only switch `PDS_OUTBOUND_ALLOW_PRIVATE` must not fetch from, or proxy to, loopback, private or
link-local addresses that a caller or a DID document names.

    atproto-proxy: did:web:127.0.0.1%3A<port>#bsky_chat       → no fetch of that did.json, 400
    atproto-proxy: <did:plc whose service points at loopback>  → no request to it, 400

Each refusal is a clear XRPC error and a warning line in the server's log. The stand-ins here are
the same loopback services the other network tests use with the switch on."""

import pytest

from network_server import start_pds
from standins import ChatService, Network
from standins.common import did_key_for, new_private_key
from standins.plc import did_for_genesis, sign_operation

HANDLE = "guard.test"


class CountingChat(ChatService):
    """The chat stand-in, counting requests for its did.json."""

    def __init__(self, plc_url):
        super().__init__(plc_url)
        self.did_fetches = 0

    def _did_document(self, request):
        with self.lock:
            self.did_fetches += 1
        super()._did_document(request)


@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


@pytest.fixture(scope="module")
def chat(net):
    with CountingChat(net.plc.url) as service:
        yield service


@pytest.fixture(scope="module")
def pds(net, tmp_path_factory):
    # The switch explicitly off: this server behaves as one on the internet.
    env = dict(net.env(), PDS_OUTBOUND_ALLOW_PRIVATE="0")
    with start_pds(tmp_path_factory.mktemp("pds-guard"), HANDLE, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def token(pds):
    return pds.create_session()["accessJwt"]


def refusal_lines(pds):
    lines = []
    for line in pds.log_path.read_text(errors="replace").splitlines():
        if "outbound request refused" in line:
            lines.append(line)
    return lines


def proxied(pds, token, header):
    return pds.get("chat.bsky.convo.listConvos", token=token, headers={"atproto-proxy": header})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_proxy_to_a_loopback_did_web_is_refused(pds, token, chat, host):
    before_lines, before_calls = len(refusal_lines(pds)), len(chat.calls)
    did = f"did:web:{host}%3A{chat.port}"
    response = proxied(pds, token, f"{did}#bsky_chat")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "InvalidRequest"
    assert response.json()["message"] == "could not resolve proxy did service url"
    assert chat.did_fetches == 0, "the server fetched a loopback did.json"
    assert len(chat.calls) == before_calls, "the request reached the loopback service"
    lines = refusal_lines(pds)[before_lines:]
    assert lines, "no log line for the refusal"
    assert "loopback" in lines[-1] and host in lines[-1], lines[-1]


def register_plc(net, endpoint):
    """A did:plc (in the configured, trusted PLC directory) whose #atproto_pds is `endpoint`."""
    rotation, signing = new_private_key(), new_private_key()
    op = {"type": "plc_operation", "rotationKeys": [did_key_for(rotation)],
          "verificationMethods": {"atproto": did_key_for(signing)}, "alsoKnownAs": ["at://mallory.example.com"],
          "services": {"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": endpoint}}, "prev": None}
    signed = sign_operation(op, rotation)
    did = did_for_genesis(signed)
    import requests
    answer = requests.post(f"{net.plc.url}/{did}", json=signed, timeout=10)
    assert answer.status_code == 200, answer.text
    return did


@pytest.mark.parametrize("endpoint, reason", [
    ("http://127.0.0.1:{port}", "loopback"),
    ("http://localhost:{port}", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}", "IPv4-mapped 127.0.0.1: loopback"),
    ("http://169.254.169.254", "link-local"),
    ("http://10.0.0.1", "private"),
])
def test_proxy_to_a_service_endpoint_on_a_private_address_is_refused(pds, token, net, chat, endpoint, reason):
    did = register_plc(net, endpoint.format(port=chat.port))
    before_lines, before_calls = len(refusal_lines(pds)), len(chat.calls)
    response = proxied(pds, token, f"{did}#atproto_pds")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "InvalidRequest"
    assert body["message"].startswith("refused to proxy to ") and reason in body["message"], body["message"]
    assert len(chat.calls) == before_calls, "the request reached the loopback service"
    lines = refusal_lines(pds)[before_lines:]
    assert lines and reason.split(":")[-1].strip() in lines[-1], lines

"""E-mail over SMTP (issue 15, point 3), against a real SMTP server: aiosmtpd on loopback with
STARTTLS required (a throwaway CA and certificate made here with `cryptography`), AUTH required and
checked against one user, every message recorded. The server under test is `pds dev` with
`PDS_EMAIL_SMTP_URL=smtp://mailer@127.0.0.1:<port>` (submission + STARTTLS), the password in a 0600
file, and the test CA as `PDS_EMAIL_CA_FILE`.

Checked: what the SMTP server receives (TLS before AUTH, the AUTH user and password, the envelope,
RFC 5322 headers, a UTF-8 text body with the token), and that each mailed token then works against
its XRPC method: confirmEmail, updateEmail (token to the current, confirmed address), resetPassword,
signPlcOperation, e-mail sign-in codes (`AuthFactorTokenRequired` on createSession; the CLI's
`pds account token sign-in` too) and deleteAccount (on a second server). `pds init --email-confirmed` gives a confirmed address.
Then: the SMTP server down (the request still answers; `pds status` shows the waiting message; it
stays queued through a kill -9 of the server and goes out once SMTP is back), and a wrong SMTP
password (retried, logged, the password never in the log). Tests run in file order and chain on one
account."""

import base64
import datetime
import email
import email.policy
import email.utils
import ipaddress
import os
import re
import ssl
import subprocess
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from network_server import (PDS_BIN, RAISED_LIMITS, PdsProcess, assert_ok, free_port, start_pds, stop, wait_for,
                            wait_healthy)
from standins import Network

HANDLE = "mail.test"
SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-" + os.urandom(8).hex()
FROM = "pds@example.com"
TOKEN = re.compile(r"\b([A-Z2-9]{5}-[A-Z2-9]{5})\b")
WAIT = 30   # seconds: delivery is asynchronous and the CI machine is slow


# --- a throwaway CA and the SMTP server's certificate ------------------------------------------------

def make_certificates(directory):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pds e-mail test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: directory / f"{name}.pem" for name in ("ca", "cert", "key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


# --- the SMTP server --------------------------------------------------------------------------------

class Mailbox:
    """aiosmtpd handler and authenticator: records every message and every AUTH attempt."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []
        self.auth_attempts = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
              and auth_data.password == SMTP_PASSWORD.encode())
        with self.lock:
            self.auth_attempts.append({"mechanism": mechanism, "ok": ok, "tls": session.ssl is not None,
                                       "login": getattr(auth_data, "login", None)})
        return AuthResult(success=ok, handled=False)   # handled=False: aiosmtpd answers 535 itself

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                                  "content": envelope.original_content, "tls": session.ssl is not None,
                                  "authenticated": session.authenticated})
        return "250 2.0.0 accepted"

    def count(self):
        with self.lock:
            return len(self.messages)

    def wait_message(self, after, what):
        """The first message after the first `after` ones, parsed."""
        wait_for(lambda: self.count() > after, WAIT, what)
        with self.lock:
            record = self.messages[after]
        return record, email.message_from_bytes(record["content"], policy=email.policy.default)


class SmtpServer:
    """aiosmtpd on a fixed loopback port, STARTTLS and AUTH required; stoppable and restartable."""

    def __init__(self, mailbox, certs, port, implicit_tls=False, exclude=()):
        self.mailbox, self.certs, self.port = mailbox, certs, port
        self.implicit_tls, self.exclude = implicit_tls, list(exclude)
        self.controller = None

    def start(self):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.certs["cert"]), str(self.certs["key"]))
        # Implicit TLS: the port speaks nothing else. (aiosmtpd does not count it as TLS for
        # auth_require_tls and would then hide AUTH, so that check is STARTTLS's only.)
        tls = ({"ssl_context": context, "auth_require_tls": False} if self.implicit_tls
               else {"tls_context": context, "require_starttls": True, "auth_require_tls": True})
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, authenticator=self.mailbox.authenticate,
                                     auth_required=True, auth_exclude_mechanism=self.exclude, **tls)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("smtp-certs"))


@pytest.fixture(scope="module")
def mailbox():
    return Mailbox()


@pytest.fixture(scope="module")
def smtp(mailbox, certs):
    server = SmtpServer(mailbox, certs, free_port()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


def mail_env(net, certs, port, directory, password=SMTP_PASSWORD):
    secret = directory / "smtp-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    env = dict(net.env())
    env.update({
        "PDS_EMAIL_SMTP_URL": f"smtp://{SMTP_USER}@127.0.0.1:{port}",
        "PDS_EMAIL_SMTP_PASSWORD_FILE": str(secret),
        "PDS_EMAIL_FROM": f"Mail Test PDS <{FROM}>",
        "PDS_EMAIL_CA_FILE": str(certs["ca"]),
        "PDS_EMAIL_RETRY_SECONDS": "1",
    })
    return env


@pytest.fixture(scope="module")
def pds(net, certs, smtp, tmp_path_factory):
    work = tmp_path_factory.mktemp("pds-email")
    with start_pds(work, HANDLE, env=mail_env(net, certs, smtp.port, work)) as server:
        yield server


@pytest.fixture(scope="module")
def state():
    return {}


def access(pds, state):
    """A full-access token: from a password login until the sign-in factor is on, then kept."""
    if "access" not in state:
        state["access"] = pds.create_session()["accessJwt"]
    return state["access"]


def token_in(message):
    body = message.get_body(preferencelist=("plain",)).get_content()
    found = TOKEN.findall(body)
    assert len(found) == 1, f"one token in the body: {body!r}"
    return found[0]


def session_info(pds, state):
    return assert_ok(pds.get("com.atproto.server.getSession", token=access(pds, state)), "getSession")


# --- the happy paths ----------------------------------------------------------------------------------

def test_confirmation_mail_arrives_over_starttls_with_auth_and_its_token_confirms(pds, mailbox, state):
    token = access(pds, state)
    assert_ok(pds.post("com.atproto.server.updateEmail", {"email": "alice@example.net"}, token=token), "updateEmail (unconfirmed)")
    info = session_info(pds, state)
    assert info["email"] == "alice@example.net" and info["emailConfirmed"] is False and info["emailAuthFactor"] is False

    before = mailbox.count()
    assert_ok(pds.post("com.atproto.server.requestEmailConfirmation", token=token), "requestEmailConfirmation")
    record, message = mailbox.wait_message(before, "the confirmation e-mail")

    assert record["tls"], "the message came over TLS (STARTTLS)"
    assert record["authenticated"]
    attempts = [a for a in mailbox.auth_attempts if a["ok"]]
    assert attempts and all(a["tls"] for a in mailbox.auth_attempts), "AUTH only inside TLS"
    assert attempts[-1]["mechanism"] in ("PLAIN", "LOGIN") and attempts[-1]["login"] == SMTP_USER.encode()
    assert record["mail_from"] == FROM
    assert record["rcpt_tos"] == ["alice@example.net"]

    raw = record["content"]
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "CRLF line ends only"
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(byte < 128 for byte in head), "7-bit headers"
    assert message["To"] == "alice@example.net"
    assert message["From"].addresses[0].addr_spec == FROM and message["From"].addresses[0].display_name == "Mail Test PDS"
    assert "confirm" in message["Subject"].lower()
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@example.com>")
    sent = email.utils.parsedate_to_datetime(message["Date"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - sent).total_seconds()) < 600
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "text/plain" and message.get_content_charset() == "utf-8"
    code = token_in(message)

    wrong = pds.post("com.atproto.server.confirmEmail", {"email": "alice@example.net", "token": "AAAAA-BBBBB"}, token=token)
    assert wrong.status_code == 400 and wrong.json()["error"] == "InvalidToken", wrong.text
    other = pds.post("com.atproto.server.confirmEmail", {"email": "bob@example.net", "token": code}, token=token)
    assert other.status_code == 400 and other.json()["error"] == "InvalidEmail", other.text
    assert_ok(pds.post("com.atproto.server.confirmEmail", {"email": "alice@example.net", "token": code}, token=token), "confirmEmail")
    assert session_info(pds, state)["emailConfirmed"] is True


def test_update_of_a_confirmed_address_needs_the_token_sent_to_it(pds, mailbox, state):
    token = access(pds, state)
    refused = pds.post("com.atproto.server.updateEmail", {"email": "bob@example.net"}, token=token)
    assert refused.status_code == 400 and refused.json()["error"] == "TokenRequired", refused.text

    before = mailbox.count()
    answer = assert_ok(pds.post("com.atproto.server.requestEmailUpdate", token=token), "requestEmailUpdate")
    assert answer == {"tokenRequired": True}
    record, message = mailbox.wait_message(before, "the update e-mail")
    assert record["rcpt_tos"] == ["alice@example.net"], "the token goes to the current address"
    assert_ok(pds.post("com.atproto.server.updateEmail", {"email": "bob@example.net", "token": token_in(message)}, token=token),
              "updateEmail with the token")
    info = session_info(pds, state)
    assert info["email"] == "bob@example.net" and info["emailConfirmed"] is False
    # Unconfirmed again: no token needed now.
    assert assert_ok(pds.post("com.atproto.server.requestEmailUpdate", token=token), "requestEmailUpdate") == {"tokenRequired": False}


def test_password_reset_by_mail(pds, mailbox):
    before = mailbox.count()
    assert_ok(pds.post("com.atproto.server.requestPasswordReset", {"email": "BOB@example.net"}), "requestPasswordReset")
    record, message = mailbox.wait_message(before, "the reset e-mail")
    assert record["rcpt_tos"] == ["bob@example.net"]
    new_password = "reset-" + os.urandom(6).hex()
    assert_ok(pds.post("com.atproto.server.resetPassword", {"token": token_in(message), "password": new_password}), "resetPassword")
    pds.password = new_password
    assert pds.create_session()["did"] == pds.did


def test_plc_operation_token_by_mail_signs_an_operation(pds, mailbox, state):
    state.pop("access", None)   # the reset revoked every session
    token = access(pds, state)
    before = mailbox.count()
    assert_ok(pds.post("com.atproto.identity.requestPlcOperationSignature", token=token), "requestPlcOperationSignature")
    _, message = mailbox.wait_message(before, "the PLC e-mail")
    assert "PLC" in message["Subject"]
    signed = assert_ok(pds.post("com.atproto.identity.signPlcOperation", {"token": token_in(message)}, token=token), "signPlcOperation")
    assert signed["operation"]["type"] == "plc_operation" and signed["operation"]["sig"]


def test_email_sign_in_codes(pds, mailbox, state):
    token = access(pds, state)
    before = mailbox.count()
    assert_ok(pds.post("com.atproto.server.requestEmailConfirmation", token=token), "requestEmailConfirmation")
    _, message = mailbox.wait_message(before, "the confirmation e-mail")
    assert_ok(pds.post("com.atproto.server.confirmEmail", {"email": "bob@example.net", "token": token_in(message)}, token=token),
              "confirmEmail")
    refused = pds.post("com.atproto.server.updateEmail", {"email": "bob@example.net", "emailAuthFactor": True}, token=token)
    assert refused.status_code == 400 and refused.json()["error"] == "TokenRequired", refused.text
    before = mailbox.count()
    assert_ok(pds.post("com.atproto.server.requestEmailUpdate", token=token), "requestEmailUpdate")
    _, message = mailbox.wait_message(before, "the update e-mail")
    assert_ok(pds.post("com.atproto.server.updateEmail",
                       {"email": "bob@example.net", "emailAuthFactor": True, "token": token_in(message)}, token=token),
              "updateEmail turning the factor on")
    assert session_info(pds, state)["emailAuthFactor"] is True

    login = {"identifier": HANDLE, "password": pds.password}
    before = mailbox.count()
    first = pds.post("com.atproto.server.createSession", login)
    assert first.status_code == 401 and first.json()["error"] == "AuthFactorTokenRequired", first.text
    record, message = mailbox.wait_message(before, "the sign-in code")
    assert record["rcpt_tos"] == ["bob@example.net"]
    code = token_in(message)
    wrong = pds.post("com.atproto.server.createSession", {**login, "authFactorToken": "AAAAA-BBBBB"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "InvalidToken" and "Token is invalid" in wrong.json()["message"], wrong.text
    bad_password = pds.post("com.atproto.server.createSession", {**login, "password": "nope", "authFactorToken": code})
    assert bad_password.status_code == 401 and bad_password.json()["error"] == "AuthenticationRequired", bad_password.text
    session = assert_ok(pds.post("com.atproto.server.createSession", {**login, "authFactorToken": code}), "createSession with the code")
    assert session["did"] == pds.did and session["emailAuthFactor"] is True
    reused = pds.post("com.atproto.server.createSession", {**login, "authFactorToken": code})
    assert reused.status_code == 400 and reused.json()["error"] == "InvalidToken", "a code works once"
    state["access"] = session["accessJwt"]


def test_browser_sign_in_asks_for_the_emailed_code_too(pds, mailbox, state):
    """The sign-in page of /account (the OAuth authorization page and the dashboard share it) with
    the factor on: the password alone gets a form asking for the code, and a code is mailed; a
    wrong code is refused; the mailed one signs in (a session cookie, then the account page)."""
    assert session_info(pds, state)["emailAuthFactor"] is True
    web = pds.http.__class__()
    page = web.get(f"{pds.url}/account", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"action": "signin", "csrf": csrf, "identifier": HANDLE, "password": pds.password}
    before = mailbox.count()
    first = web.post(f"{pds.url}/account", data=form, allow_redirects=False, timeout=10)
    assert first.status_code == 401 and 'name="code"' in first.text, first.text[:500]
    assert "Set-Cookie" not in first.headers or "pds_session" not in first.headers.get("Set-Cookie", "")
    _, message = mailbox.wait_message(before, "the sign-in code for the browser")
    csrf = re.search(r'name="csrf" value="([^"]+)"', first.text).group(1)
    wrong = web.post(f"{pds.url}/account", data={**form, "csrf": csrf, "code": "AAAAA-BBBBB"}, allow_redirects=False, timeout=10)
    assert wrong.status_code == 401 and "not valid" in wrong.text, wrong.text[:500]
    csrf = re.search(r'name="csrf" value="([^"]+)"', wrong.text).group(1)
    signed_in = web.post(f"{pds.url}/account", data={**form, "csrf": csrf, "code": token_in(message)},
                         allow_redirects=False, timeout=10)
    assert signed_in.status_code == 303, signed_in.text[:500]
    account = web.get(f"{pds.url}/account", timeout=10)
    assert account.status_code == 200 and 'name="password"' not in account.text, "still the sign-in page after the code"
    # The dashboard's form is the same one: it asks for the code as well.
    other = pds.http.__class__()
    page = other.get(f"{pds.url}/dashboard", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    asked = other.post(f"{pds.url}/dashboard", data={**form, "csrf": csrf}, allow_redirects=False, timeout=10)
    assert asked.status_code == 401 and 'name="code"' in asked.text, asked.text[:500]


def test_without_smtp_the_cli_prints_the_sign_in_code(pds):
    made = pds.run_cli("account", "token", "sign-in", "--data", str(pds.data_dir))
    assert made.returncode == 0, made.stderr
    code = made.stdout.strip()
    assert TOKEN.fullmatch(code), made.stdout
    session = assert_ok(pds.post("com.atproto.server.createSession",
                                 {"identifier": HANDLE, "password": pds.password, "authFactorToken": code}), "createSession")
    assert session["did"] == pds.did


def test_account_deletion_token_by_mail(net, certs, smtp, mailbox, tmp_path_factory):
    work = tmp_path_factory.mktemp("pds-email-delete")
    with start_pds(work, "leaving.test", env=mail_env(net, certs, smtp.port, work)) as other:
        token = other.create_session()["accessJwt"]
        assert_ok(other.post("com.atproto.server.updateEmail", {"email": "dave@example.net"}, token=token), "updateEmail")
        before = mailbox.count()
        assert_ok(other.post("com.atproto.server.requestAccountDelete", token=token), "requestAccountDelete")
        record, message = mailbox.wait_message(before, "the deletion e-mail")
        assert record["rcpt_tos"] == ["dave@example.net"] and "delet" in message["Subject"].lower()
        body = {"did": other.did, "password": other.password, "token": token_in(message)}
        wrong = other.post("com.atproto.server.deleteAccount", {**body, "token": "AAAAA-BBBBB"})
        assert wrong.status_code == 400 and wrong.json()["error"] == "InvalidToken", wrong.text
        assert_ok(other.post("com.atproto.server.deleteAccount", body), "deleteAccount with the mailed token")
        gone = other.post("com.atproto.server.createSession", {"identifier": other.did, "password": other.password})
        assert gone.status_code == 401, gone.text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")   # implicit TLS: see SmtpServer.start
@pytest.mark.parametrize("variant", ["smtps-implicit-tls", "starttls-auth-login"])
def test_implicit_tls_and_auth_login(variant, net, certs, tmp_path_factory):
    """Port-465 style (`smtps://`: TLS from the first byte) and a server offering only AUTH LOGIN."""
    box = Mailbox()
    server = SmtpServer(box, certs, free_port(), implicit_tls=variant.startswith("smtps"),
                        exclude=["PLAIN"] if variant.endswith("login") else []).start()
    try:
        work = tmp_path_factory.mktemp(f"pds-email-{variant}")
        env = mail_env(net, certs, server.port, work)
        if variant.startswith("smtps"):
            env["PDS_EMAIL_SMTP_URL"] = f"smtps://{SMTP_USER}@127.0.0.1:{server.port}"
        with start_pds(work, "variant.test", env=env) as other:
            token = other.create_session()["accessJwt"]
            assert_ok(other.post("com.atproto.server.updateEmail", {"email": "erin@example.net"}, token=token), "updateEmail")
            assert_ok(other.post("com.atproto.server.requestEmailConfirmation", token=token), "requestEmailConfirmation")
            record, message = box.wait_message(0, f"the e-mail over {variant}")
            assert record["rcpt_tos"] == ["erin@example.net"] and record["authenticated"]
            assert record["tls"] or variant.startswith("smtps"), "STARTTLS before the message"
            assert [a["mechanism"] for a in box.auth_attempts if a["ok"]] == ["LOGIN" if variant.endswith("login") else "PLAIN"]
            assert_ok(other.post("com.atproto.server.confirmEmail", {"email": "erin@example.net", "token": token_in(message)},
                                 token=token), "confirmEmail")
    finally:
        server.stop()


# --- pds init ---------------------------------------------------------------------------------------------

def test_init_can_mark_the_owners_email_confirmed(net, tmp_path):
    """`pds init --email … --email-confirmed`: the owner's own address needs no confirmation mail."""
    from test_appliance import Setup, describe, pds as pds_cli, serving
    setup = Setup(tmp_path, "erin.pds.test", "identity")
    args = [arg for arg in setup.init_args(net) if arg != "--no-email"] + ["--email", "erin@example.net", "--email-confirmed"]
    setup.result = pds_cli(*args, timeout=60)
    assert setup.result.returncode == 0, f"pds init --email-confirmed: {describe(setup.result)}"
    with serving(setup) as server:
        response = server.create_session(setup.handle)
        assert response.status_code == 200, f"createSession: {response.status_code} {response.text[:300]}"
        session = response.json()
        assert session["email"] == "erin@example.net" and session["emailConfirmed"] is True, session
        assert session["emailAuthFactor"] is False


# --- failures: the SMTP server down, a wrong SMTP password -----------------------------------------------

def test_smtp_down_queues_across_a_kill_and_delivers_later(net, certs, mailbox, smtp, pds, state):
    token = access(pds, state)
    smtp.stop()
    before = mailbox.count()
    assert_ok(pds.post("com.atproto.server.requestEmailConfirmation", token=token), "requestEmailConfirmation while SMTP is down")
    wait_for(lambda: "will retry" in pds.log_path.read_text(errors="replace"), WAIT, "a failed attempt in the log")
    assert mailbox.count() == before
    # `pds status` shows the waiting message and why (the CLI reads the same PDS_EMAIL_* keys).
    cli_env = {name: value for name, value in os.environ.items() if not name.startswith("PDS_")}
    cli_env.update(mail_env(net, certs, smtp.port, pds.data_dir.parent))
    status = subprocess.run([PDS_BIN, "status", "--offline", "--data", str(pds.data_dir)], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL, env=cli_env)
    line = next((l for l in status.stdout.splitlines() if l[2:].startswith("email")), None)
    assert line and "1 queued" in line and "last error" in line and "bob@example.net (confirmed)" in line, status.stdout + status.stderr
    assert SMTP_PASSWORD not in status.stdout + status.stderr
    # kill -9: the acknowledged request's message must survive in the queue.
    pds.process.kill()
    pds.process.wait(timeout=10)
    smtp.start()
    work = pds.data_dir.parent
    restarted_log = work / "pds-restart.log"
    env = {name: value for name, value in os.environ.items() if not name.startswith("PDS_")}
    env.update(RAISED_LIMITS)
    env["PDS_CRAWLERS"] = ""
    env["PDS_OUTBOUND_ALLOW_PRIVATE"] = "1"
    env.update(mail_env(net, certs, smtp.port, work))
    with open(restarted_log, "wb") as log:
        process = subprocess.Popen([PDS_BIN, "dev", "--data", str(pds.data_dir), "--port", str(pds.port), "--handle", HANDLE],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        restarted = PdsProcess(pds.url, pds.port, HANDLE, pds.password, pds.data_dir, restarted_log, process)
        wait_healthy(process, restarted.http, restarted.url, restarted.log_tail, "restarted pds dev")
        record, message = mailbox.wait_message(before, "the queued e-mail after the restart")
        assert record["rcpt_tos"] == ["bob@example.net"] and TOKEN.search(message.get_body(preferencelist=("plain",)).get_content())
    finally:
        stop(process)
    for path in (pds.log_path, restarted_log):
        assert SMTP_PASSWORD not in path.read_text(errors="replace")


def test_a_wrong_smtp_password_is_retried_and_never_logged(net, certs, mailbox, smtp, tmp_path_factory):
    work = tmp_path_factory.mktemp("pds-email-badpass")
    wrong = "wrong-" + os.urandom(8).hex()
    with start_pds(work, "badpass.test", env=mail_env(net, certs, smtp.port, work, password=wrong)) as other:
        token = other.create_session()["accessJwt"]
        assert_ok(other.post("com.atproto.server.updateEmail", {"email": "carol@example.net"}, token=token), "updateEmail")
        failures_before = sum(1 for a in mailbox.auth_attempts if not a["ok"])
        delivered_before = mailbox.count()
        assert_ok(other.post("com.atproto.server.requestEmailConfirmation", token=token), "requestEmailConfirmation")
        wait_for(lambda: sum(1 for a in mailbox.auth_attempts if not a["ok"]) >= failures_before + 2, WAIT,
                 "two refused AUTH attempts (a retry)")
        wait_for(lambda: other.log_path.read_text(errors="replace").count("will retry") >= 2, WAIT, "the retries in the log")
        log = other.log_path.read_text(errors="replace")
        assert "535" in log, "the server's refusal is logged"
        assert wrong not in log
        assert base64.b64encode(wrong.encode()).decode()[:12] not in log
        assert mailbox.count() == delivered_before
        assert not any(a["tls"] is False for a in mailbox.auth_attempts)

"""The appliance commands of the real binary (issue 6, points 1, 2 and 6): `pds init` without a
terminal, age-encrypted key files that the real `age` CLI opens, `pds serve --config` with its unlock
routes and refusals, `pds key import`, JSON logs, `/metrics`, SIGTERM draining, `pds doctor`, and (issue 10)
`pds account plc-token --config` and `pds dev` announcing itself only once listening.

Every server runs on 127.0.0.1 against the loopback stand-ins (Tests/interop/standins); each command
runs in its own session (no controlling terminal, stdin from /dev/null) with every `PDS_*` variable
of the calling environment dropped, and is stopped in a `finally`."""

import contextlib
import json
import os
import pathlib
import re
import shutil
import shlex
import signal
import socket
import stat
import subprocess
import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from network_server import PDS_BIN, ROOT, TIMEOUT, free_port, wait_healthy
from standins import Network
from standins.common import did_key_for

AGE_PASS = ROOT / "Tests" / "tools" / "age-pass"  # types a passphrase into `age` through a pty
HOSTNAME = "pds.test"
IDENTITY_HANDLE = "alice.pds.test"
PASSPHRASE_HANDLE = "bob.pds.test"
PASSWORD = f"init-pw-{os.urandom(8).hex()}"
PASSPHRASE = f"unlock phrase {os.urandom(8).hex()}"
START_SECONDS = 20      # serve start-up, including scrypt for a passphrase
STOP_SECONDS = 15       # SIGTERM to exit
REFUSE_SECONDS = 10     # a refusal is immediate; a server that starts anyway is killed after this
KEY_PLAINTEXT = re.compile(r"^(p256:)?[0-9a-f]{64}\n$")
TRACEBACK = re.compile(r"Traceback|Fatal error|Stack trace|Backtrace|fatalError|\.swift:\d+|0x[0-9a-f]{8,}")

# Everything every command printed, for the secrets check at the end.
OUTPUTS = []


# --- helpers -----------------------------------------------------------------------------------

def clean_env(extra=None):
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("PDS_") and name != "CREDENTIALS_DIRECTORY"}
    env.update(extra or {})
    return env


def run(args, env=None, timeout=TIMEOUT, what=None):
    """Runs a command without a terminal; records its output."""
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                env=clean_env(env), start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        OUTPUTS.append((what or " ".join(map(str, args)), f"{exc.stdout or ''}{exc.stderr or ''}"))
        pytest.fail(f"{what or args} did not finish in {timeout} s (stdout {exc.stdout!r}, stderr {exc.stderr!r})")
    OUTPUTS.append((what or " ".join(map(str, args)), result.stdout + result.stderr))
    return result


def pds(*args, env=None, timeout=TIMEOUT):
    if not os.access(PDS_BIN, os.X_OK):
        pytest.fail(f"no pds binary at {PDS_BIN} (set PDS_INTEROP_BIN)")
    return run([PDS_BIN, *map(str, args)], env=env, timeout=timeout, what=f"pds {' '.join(map(str, args))}")


def describe(result):
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def assert_one_clear_line(result, *needles):
    """Exit != 0, stderr is exactly one non-empty line, it mentions every needle, nothing traceback-like."""
    assert result.returncode != 0, f"expected a refusal, got {describe(result)}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected ONE line on stderr, got {len(lines)}:\n{result.stderr}"
    line = lines[0]
    for needle in needles:
        assert re.search(needle, line, re.IGNORECASE), f"the error line does not mention {needle!r}: {line!r}"
    assert not TRACEBACK.search(result.stdout + result.stderr), f"traceback-like output:\n{describe(result)}"
    return line


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def write_secret(path, text, file_mode=0o600):
    path = pathlib.Path(path)
    path.write_text(text + "\n")
    os.chmod(path, file_mode)
    return path


def read_conf(path):
    values = {}
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def write_conf(path, values):
    pathlib.Path(path).write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def key_from_plaintext(text):
    """A `cryptography` private key from a key file's plaintext (64 hex, optionally `p256:`)."""
    assert KEY_PLAINTEXT.fullmatch(text), f"key plaintext is not 64 hex (+ optional p256:) and a newline: {text!r}"
    curve = ec.SECP256K1()
    if text.startswith("p256:"):
        curve, text = ec.SECP256R1(), text[len("p256:"):]
    return ec.derive_private_key(int(text.strip(), 16), curve)


def age_decrypt_identity(identity_file, age_file):
    result = run(["age", "-d", "-i", str(identity_file), str(age_file)], what=f"age -d {age_file}")
    assert result.returncode == 0, f"age -d -i {identity_file} {age_file}: {describe(result)}"
    return result.stdout


def age_decrypt_passphrase(passphrase, age_file, work):
    out = pathlib.Path(work) / f"{pathlib.Path(age_file).stem}-{os.urandom(4).hex()}.plain"
    try:
        result = run([str(AGE_PASS), "age", "-d", "-o", str(out), str(age_file)], env={"AGE_PASS": passphrase},
                     what=f"age-pass age -d {age_file}")
        assert result.returncode == 0, f"age-pass age -d {age_file}: {describe(result)}"
        return out.read_text()
    finally:
        out.unlink(missing_ok=True)


class Setup:
    """One `pds init` run: its directory, files, output and what it printed."""

    def __init__(self, root, handle, unlock):
        self.root = pathlib.Path(root)
        self.handle = handle
        self.unlock = unlock
        self.data = self.root / "data"
        self.conf = self.root / "pds.conf"
        self.identity_file = self.root / "unlock.txt"
        self.passphrase_file = self.root / "pass"
        self.password_file = write_secret(self.root / "password", PASSWORD)
        self.port = free_port()
        self.result = None
        self.did = None
        self.recovery_hex = None
        self.recovery_did_key = None

    def init_args(self, net, data=None, conf=None, drop=()):
        args = {"--hostname": HOSTNAME, "--handle": self.handle, "--password-file": self.password_file,
                "--unlock": self.unlock}
        if self.unlock == "identity":
            args["--identity-file"] = self.identity_file
        else:
            args["--passphrase-file"] = self.passphrase_file
        flat = ["init"]
        for flag, value in args.items():
            if flag not in drop:
                flat += [flag, value]
        flat += ["--no-email", "--data", data or self.data, "--config", conf or self.conf]
        for key, value in (("PDS_DID_PLC_URL", net.plc.url), ("PDS_TLS", "off"), ("PDS_PORT", self.port),
                           ("PDS_BIND_ADDRESS", "127.0.0.1"), ("PDS_DNS_RESOLVER", net.dns.address),
                           ("PDS_BSKY_APP_VIEW_URL", net.appview.url), ("PDS_BSKY_APP_VIEW_DID", net.appview.did),
                           ("PDS_CRAWLERS", net.relay.url), ("PDS_HANDLE_HTTPS_RESOLUTION", "false")):
            flat += ["--set", f"{key}={value}"]
        return flat

    def run_init(self, net):
        self.result = pds(*self.init_args(net), timeout=60)
        assert self.result.returncode == 0, f"pds init ({self.unlock}): {describe(self.result)}"
        out = self.result.stdout
        dids = re.findall(r"did:plc:[a-z2-7]{24}", out)
        assert dids, f"pds init printed no DID:\n{out}"
        self.did = dids[0]
        hexes = re.findall(r"\b[0-9a-f]{64}\b", out)
        keys = re.findall(r"did:key:z[1-9A-HJ-NP-Za-km-z]+", out)
        assert len(hexes) == 1, f"expected the recovery key's hex exactly once, found {len(hexes)}:\n{out}"
        assert len(keys) == 1, f"expected the recovery did:key exactly once, found {len(keys)}:\n{out}"
        self.recovery_hex, self.recovery_did_key = hexes[0], keys[0]
        return self

    def clone(self, name, **changes):
        """A copy of the data directory (modes kept) and a config pointing at it, with `changes`."""
        root = self.root.parent / f"{self.root.name}-{name}"
        shutil.copytree(self.data, root / "data")
        values = read_conf(self.conf)
        values["PDS_DATA_DIRECTORY"] = str(root / "data")
        values.update({key: str(value) for key, value in changes.items()})
        copy = Setup.__new__(Setup)
        copy.__dict__.update(self.__dict__)
        copy.root, copy.data, copy.conf = root, root / "data", write_conf(root / "pds.conf", values)
        return copy

    def unlock_env(self):
        if self.unlock == "identity":
            return {"PDS_KEY_IDENTITY_FILE": str(self.identity_file)}
        return {"PDS_KEY_PASSPHRASE_FILE": str(self.passphrase_file)}


class Served:
    def __init__(self, process, url, stdout_path, stderr_path):
        self.process, self.url = process, url
        self.stdout_path, self.stderr_path = stdout_path, stderr_path
        self.http = requests.Session()
        self.http.trust_env = False

    def get(self, path, **kwargs):
        return self.http.get(self.url + path, timeout=TIMEOUT, **kwargs)

    def post(self, path, body):
        return self.http.post(self.url + path, json=body, timeout=TIMEOUT)

    def create_session(self, identifier, password=PASSWORD):
        return self.post("/xrpc/com.atproto.server.createSession", {"identifier": identifier, "password": password})

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout=STOP_SECONDS):
        """SIGTERM; the exit code (None if it had to be killed)."""
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return None


_serve_count = 0


@contextlib.contextmanager
def serving(setup, env=None):
    """`pds serve --config <setup.conf>` (port from the config), healthy, stopped on exit."""
    global _serve_count
    _serve_count += 1
    port = int(read_conf(setup.conf)["PDS_PORT"])
    stdout_path = setup.root / f"serve-{_serve_count}.stdout"
    stderr_path = setup.root / f"serve-{_serve_count}.stderr"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen([PDS_BIN, "serve", "--config", str(setup.conf)], stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err, env=clean_env(env), start_new_session=True)
    server = Served(process, f"http://127.0.0.1:{port}", stdout_path, stderr_path)
    try:
        wait_healthy(process, server.http, server.url, server.stderr, "pds serve", START_SECONDS)
        yield server
    finally:
        server.stop()
        OUTPUTS.append((f"pds serve --config {setup.conf}", server.stdout() + server.stderr()))


def assert_session(server, handle, did):
    response = server.create_session(handle)
    assert response.status_code == 200, f"createSession: {response.status_code} {response.text[:300]}"
    assert response.json()["did"] == did


def assert_json_log_lines(text, what):
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, f"{what}: no log lines at all"
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"{what}: a log line is not JSON: {line!r}")
        assert isinstance(entry, dict), f"{what}: a log line is not a JSON object: {line!r}"
        assert isinstance(entry.get("level"), str) and entry["level"], f"{what}: no `level`: {line!r}"
        assert isinstance(entry.get("message"), str) and entry["message"], f"{what}: no `message`: {line!r}"
    return lines


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


@pytest.fixture(scope="module")
def identity(net, tmp_path_factory):
    return Setup(tmp_path_factory.mktemp("identity"), IDENTITY_HANDLE, "identity").run_init(net)


@pytest.fixture(scope="module")
def passphrase(net, tmp_path_factory):
    setup = Setup(tmp_path_factory.mktemp("passphrase"), PASSPHRASE_HANDLE, "passphrase")
    write_secret(setup.passphrase_file, PASSPHRASE)
    return setup.run_init(net)


# --- 1. pds init -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["identity", "passphrase"])
def test_init_prints_did_and_recovery_key_and_writes_files(case, request, net):
    setup = request.getfixturevalue(case)
    out = setup.result.stdout
    assert out.count(setup.did) >= 1
    assert out.count(setup.recovery_hex) == 1, "the recovery key's hex must be shown exactly once"
    recovery = ec.derive_private_key(int(setup.recovery_hex, 16), ec.SECP256K1())
    assert did_key_for(recovery) == setup.recovery_did_key, "the printed hex and did:key are not the same key"
    for name in ("signing.age", "rotation.age"):
        path = setup.data / "keys" / name
        assert path.is_file(), f"{path} was not written"
        assert mode(path) == 0o600, f"{path} has mode {mode(path):o}, not 600"
        head = path.read_bytes()[:64]
        assert head.startswith((b"age-encryption.org/v1\n", b"-----BEGIN AGE ENCRYPTED FILE-----\n")), (
            f"{path} is not an age file (binary or armored): {head!r}")
    assert setup.conf.is_file(), "pds.conf was not written"
    conf = read_conf(setup.conf)
    assert conf.get("PDS_HOSTNAME") == HOSTNAME
    assert conf.get("PDS_KEY_UNLOCK") == setup.unlock
    assert conf.get("PDS_TLS") == "off" and conf.get("PDS_PORT") == str(setup.port)
    assert conf.get("PDS_DID_PLC_URL") == net.plc.url
    crawlers = [line for line in setup.conf.read_text().splitlines() if line.startswith("PDS_CRAWLERS=")]
    assert crawlers == [f"PDS_CRAWLERS={net.relay.url}"], f"pds.conf names the relay once, as --set said: {crawlers}"
    if case == "identity":
        assert mode(setup.identity_file) == 0o600, f"identity file mode {mode(setup.identity_file):o}"
        assert conf.get("PDS_KEY_IDENTITY_FILE") == str(setup.identity_file)


@pytest.mark.parametrize("case", ["identity", "passphrase"])
def test_init_published_a_valid_genesis_op_with_recovery_key_first(case, request, net, tmp_path):
    setup = request.getfixturevalue(case)
    posts = [entry for entry in net.plc.received if entry["did"] == setup.did]
    assert posts, f"the PLC stand-in received nothing for {setup.did}"
    accepted = [entry for entry in posts if entry["status"] == 200]
    assert accepted, f"the PLC stand-in refused the genesis op: {posts}"
    op = accepted[0]["operation"]
    assert op["prev"] is None
    if case == "identity":
        rotation_plain = age_decrypt_identity(setup.identity_file, setup.data / "keys" / "rotation.age")
        signing_plain = age_decrypt_identity(setup.identity_file, setup.data / "keys" / "signing.age")
    else:
        rotation_plain = age_decrypt_passphrase(PASSPHRASE, setup.data / "keys" / "rotation.age", tmp_path)
        signing_plain = age_decrypt_passphrase(PASSPHRASE, setup.data / "keys" / "signing.age", tmp_path)
    server_rotation = did_key_for(key_from_plaintext(rotation_plain))
    assert op["rotationKeys"] == [setup.recovery_did_key, server_rotation], (
        f"rotationKeys {op['rotationKeys']} are not [recovery {setup.recovery_did_key}, server {server_rotation}]")
    assert op["verificationMethods"]["atproto"] == did_key_for(key_from_plaintext(signing_plain))
    assert op["alsoKnownAs"] == [f"at://{setup.handle}"]
    assert not [f for f in net.plc.failures], net.plc.failures


def test_init_refuses_a_group_readable_passphrase_file(net, tmp_path):
    setup = Setup(tmp_path, "carol.pds.test", "passphrase")
    write_secret(setup.passphrase_file, PASSPHRASE, 0o644)
    before = len(net.plc.received)
    result = pds(*setup.init_args(net), timeout=30)
    assert_one_clear_line(result, re.escape(str(setup.passphrase_file.name)), r"600|readable|permission|mode")
    assert not setup.conf.exists(), "pds.conf written although init refused"
    assert not (setup.data / "keys").exists(), "keys written although init refused"
    assert len(net.plc.received) == before, "a PLC operation was published although init refused"


@pytest.mark.parametrize("where", ["same data and config", "same data, new config", "new data, same config"])
def test_init_again_refuses(where, identity, net, tmp_path):
    keys_before = {name: (identity.data / "keys" / name).read_bytes() for name in ("signing.age", "rotation.age")}
    conf_before = identity.conf.read_bytes()
    plc_before = len(net.plc.received)
    data = identity.data if where != "new data, same config" else tmp_path / "data"
    conf = identity.conf if where != "same data, new config" else tmp_path / "pds.conf"
    result = pds(*identity.init_args(net, data=data, conf=conf), timeout=30)
    assert result.returncode != 0, f"init on an initialised server did not refuse: {describe(result)}"
    assert re.search(r"already initiali[sz]ed", result.stderr + result.stdout, re.IGNORECASE), describe(result)
    assert not TRACEBACK.search(result.stdout + result.stderr), describe(result)
    for name, content in keys_before.items():
        assert (identity.data / "keys" / name).read_bytes() == content, f"{name} changed"
    assert identity.conf.read_bytes() == conf_before, "pds.conf changed"
    assert len(net.plc.received) == plc_before, "a PLC operation was published by the refused init"


@pytest.mark.parametrize("unlock,flag,needle", [
    ("identity", "--hostname", r"--hostname"),
    ("identity", "--handle", r"--handle"),
    ("identity", "--password-file", r"--password"),
    ("identity", "--unlock", r"--unlock"),
    ("passphrase", "--passphrase-file", r"--passphrase-file"),
])
def test_init_without_a_terminal_names_the_missing_flag(unlock, flag, needle, net, tmp_path):
    setup = Setup(tmp_path, "dave.pds.test", unlock)
    write_secret(setup.passphrase_file, PASSPHRASE)
    before = len(net.plc.received)
    result = pds(*setup.init_args(net, drop=(flag,)), timeout=30)
    assert_one_clear_line(result, needle)
    assert not setup.conf.exists() and not setup.data.exists(), "init left files behind"
    assert len(net.plc.received) == before


# --- 2. the real age CLI opens the key files --------------------------------------------------

@pytest.mark.parametrize("name", ["signing.age", "rotation.age"])
def test_age_cli_decrypts_with_the_identity(identity, name):
    plain = age_decrypt_identity(identity.identity_file, identity.data / "keys" / name)
    assert KEY_PLAINTEXT.fullmatch(plain), f"{name} plaintext: {plain!r}"


@pytest.mark.parametrize("name", ["signing.age", "rotation.age"])
def test_age_cli_decrypts_with_the_passphrase(passphrase, name, tmp_path):
    plain = age_decrypt_passphrase(PASSPHRASE, passphrase.data / "keys" / name, tmp_path)
    assert KEY_PLAINTEXT.fullmatch(plain), f"{name} plaintext: {plain!r}"


# --- 3. pds serve --config ---------------------------------------------------------------------

def test_serve_unlocks_from_the_identity_file_in_the_config(identity):
    with serving(identity) as server:
        assert_session(server, identity.handle, identity.did)


def test_serve_unlocks_from_the_credentials_directory(passphrase, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    write_secret(credentials / "pds-unlock", PASSPHRASE)
    with serving(passphrase, env={"CREDENTIALS_DIRECTORY": str(credentials)}) as server:
        assert_session(server, passphrase.handle, passphrase.did)


def test_serve_unlocks_from_pds_key_passphrase_file(passphrase):
    with serving(passphrase, env={"PDS_KEY_PASSPHRASE_FILE": str(passphrase.passphrase_file)}) as server:
        assert_session(server, passphrase.handle, passphrase.did)


def test_serve_refuses_a_plaintext_key_file(passphrase):
    setup = passphrase.clone("plaintext")
    rotation = setup.data / "keys" / "rotation.age"
    write_secret(rotation, os.urandom(32).hex())
    result = pds("serve", "--config", setup.conf, env=setup.unlock_env(), timeout=REFUSE_SECONDS)
    assert_one_clear_line(result, r"rotation\.age", r"plaintext|not an age|age-encrypted")


def test_serve_refuses_a_group_readable_key_file(passphrase):
    setup = passphrase.clone("mode640")
    os.chmod(setup.data / "keys" / "signing.age", 0o640)
    result = pds("serve", "--config", setup.conf, env=setup.unlock_env(), timeout=REFUSE_SECONDS)
    assert_one_clear_line(result, r"signing\.age", r"640|readable|permission")


def test_serve_refuses_a_missing_key_file(passphrase):
    setup = passphrase.clone("missing")
    (setup.data / "keys" / "signing.age").unlink()
    result = pds("serve", "--config", setup.conf, env=setup.unlock_env(), timeout=REFUSE_SECONDS)
    assert_one_clear_line(result, r"signing\.age", r"missing|not found|does not exist|no such")


def test_serve_refuses_a_bad_config_value(passphrase):
    setup = passphrase.clone("badport", PDS_PORT="notanumber")
    result = pds("serve", "--config", setup.conf, env=setup.unlock_env(), timeout=REFUSE_SECONDS)
    assert_one_clear_line(result, r"PDS_PORT", r"notanumber|number")


def test_serve_refuses_without_an_unlock_source(passphrase):
    assert "PDS_KEY_IDENTITY_FILE" not in read_conf(passphrase.conf)
    assert "PDS_KEY_PASSPHRASE_FILE" not in read_conf(passphrase.conf)
    result = pds("serve", "--config", passphrase.conf, timeout=REFUSE_SECONDS)
    assert_one_clear_line(result, r"unlock|passphrase|identity|credential")


# --- 4. pds key import -------------------------------------------------------------------------

def test_key_import_accepts_a_file_made_by_age(identity, tmp_path):
    setup = identity.clone("import")
    public = re.search(r"^# public key: (age1[0-9a-z]+)$", identity.identity_file.read_text(), re.MULTILINE)
    assert public, f"no '# public key:' line in {identity.identity_file}"
    installed = setup.data / "keys" / "rotation.age"
    original = installed.read_bytes()

    other = tmp_path / "other.txt"
    result = run(["age-keygen", "-o", str(other)], what="age-keygen")
    assert result.returncode == 0, describe(result)
    other_recipient = re.search(r"^# public key: (age1[0-9a-z]+)$", other.read_text(), re.MULTILINE).group(1)
    wrong = tmp_path / "wrong.age"
    secret = os.urandom(32).hex()
    made = subprocess.run(["age", "-r", other_recipient, "-o", str(wrong)], input=secret + "\n", text=True,
                          capture_output=True, timeout=TIMEOUT)
    assert made.returncode == 0, made.stderr
    refused = pds("key", "import", "--config", setup.conf, "--kind", "rotation", wrong)
    assert refused.returncode != 0, f"a key file for another recipient was accepted: {describe(refused)}"
    assert not TRACEBACK.search(refused.stdout + refused.stderr), describe(refused)
    assert installed.read_bytes() == original, "the refused import changed keys/rotation.age"
    assert sorted(p.name for p in installed.parent.iterdir()) == ["rotation.age", "signing.age"], (
        f"the refused import left files in keys/: {sorted(p.name for p in installed.parent.iterdir())}")

    good = tmp_path / "k.age"
    made = subprocess.run(["age", "-r", public.group(1), "-o", str(good)], input=secret + "\n", text=True,
                          capture_output=True, timeout=TIMEOUT)
    assert made.returncode == 0, made.stderr
    accepted = pds("key", "import", "--config", setup.conf, "--kind", "rotation", good)
    assert accepted.returncode == 0, f"pds key import refused a key file made by age: {describe(accepted)}"
    assert mode(installed) == 0o600, f"installed rotation.age has mode {mode(installed):o}"
    assert age_decrypt_identity(identity.identity_file, installed) == secret + "\n"
    assert secret not in accepted.stdout + accepted.stderr, "key import printed the private key"


# --- 5. operations -----------------------------------------------------------------------------

def test_serve_logs_are_json_lines_without_secrets(identity):
    with serving(identity) as server:
        assert_session(server, identity.handle, identity.did)
        wrong = server.create_session(identity.handle, password=PASSWORD + "x")
        assert wrong.status_code == 401, f"wrong password: {wrong.status_code} {wrong.text[:200]}"
        server.get("/xrpc/com.atproto.server.describeServer")
        code = server.stop()
        assert code == 0, f"pds serve exited with {code} on SIGTERM:\n{server.stderr()}"
        logs = server.stdout() + server.stderr()
    assert_json_log_lines(server.stderr(), "pds serve stderr")
    if server.stdout().strip():
        assert_json_log_lines(server.stdout(), "pds serve stdout")
    for secret, what in ((PASSWORD, "the account password"), (identity.recovery_hex, "the recovery key")):
        assert secret not in logs, f"{what} appears in the server's log"
    secret_key = re.search(r"AGE-SECRET-KEY-1[0-9A-Z]+", identity.identity_file.read_text()).group(0)
    assert secret_key not in logs, "the unlock identity appears in the server's log"


def test_metrics_off_by_default(identity):
    with serving(identity) as server:
        response = server.get("/metrics")
        assert response.status_code == 404, f"/metrics by default: {response.status_code} {response.text[:200]}"
        assert "process_resident_memory_bytes" not in response.text
        assert "pds_http_requests_total" not in response.text


def test_metrics_and_sigterm_with_a_firehose_client(identity):
    with serving(identity, env={"PDS_METRICS_ENABLED": "true"}) as server:
        assert server.get("/xrpc/_health").status_code == 200
        response = server.get("/metrics")
        assert response.status_code == 200, f"/metrics: {response.status_code} {response.text[:200]}"
        assert response.headers.get("Content-Type", "").startswith("text/plain"), response.headers
        text = response.text
        assert re.search(r"^pds_http_requests_total(\{[^}]*\})? \d", text, re.MULTILINE), text
        assert re.search(r"^process_resident_memory_bytes \d+", text, re.MULTILINE), text
        sqlite = re.search(r"^pds_sqlite_memory_bytes (\d+)$", text, re.MULTILINE)
        assert sqlite and int(sqlite.group(1)) > 0, text
        assert re.search(r"^# TYPE pds_http_requests_total counter$", text, re.MULTILINE), text

        url = server.url.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos"
        with ws_connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
            deadline = time.time() + 5
            while time.time() < deadline and not re.search(r"^pds_firehose_subscribers 1\b",
                                                           server.get("/metrics").text, re.MULTILINE):
                time.sleep(0.1)
            started = time.time()
            server.process.send_signal(signal.SIGTERM)
            closed = None
            try:
                while time.time() - started < TIMEOUT:
                    ws.recv(timeout=TIMEOUT)
            except ConnectionClosed as exc:
                closed = exc
            except TimeoutError:
                pass
            assert closed is not None, "the firehose client was not closed within 10 s of SIGTERM"
            assert closed.rcvd is not None, f"the connection dropped without a close frame: {closed!r}"
            assert closed.rcvd.code == 1001, f"close code {closed.rcvd.code} ({closed.rcvd.reason!r}), not 1001"
        try:
            code = server.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"pds serve still running {STOP_SECONDS} s after SIGTERM")
        assert code == 0, f"pds serve exited with {code} after SIGTERM:\n{server.stderr()}"
        assert time.time() - started < STOP_SECONDS


def test_serve_asks_for_the_passphrase_on_a_terminal(passphrase):
    """With no unlock source but a terminal, `pds serve` prompts (echo off) and starts. `script`
    gives the process a pseudo-terminal; the passphrase is typed on its standard input."""
    port = int(read_conf(passphrase.conf)["PDS_PORT"])
    command = f"{shlex.quote(PDS_BIN)} serve --config {shlex.quote(str(passphrase.conf))}"
    process = subprocess.Popen(["script", "-qefc", command, "/dev/null"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=clean_env({}), start_new_session=True)
    server = Served(process, f"http://127.0.0.1:{port}", None, None)
    try:
        time.sleep(1.0)  # let it reach the prompt
        process.stdin.write((PASSPHRASE + "\n").encode())
        process.stdin.flush()
        deadline = time.time() + START_SECONDS
        while time.time() < deadline:
            try:
                if server.http.get(f"{server.url}/xrpc/_health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, f"pds serve exited: {process.stdout.read().decode(errors='replace')}"
            time.sleep(0.1)
        else:
            pytest.fail("pds serve did not start after the passphrase was typed")
        assert server.create_session(passphrase.handle).status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output = process.communicate(timeout=STOP_SECONDS)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output = process.communicate()[0].decode(errors="replace")
    assert "Passphrase" in output, f"no prompt shown: {output[:500]!r}"
    assert PASSPHRASE not in output, "the passphrase was echoed"


def test_sigterm_lets_an_in_flight_request_finish(identity):
    """A request that is still arriving when SIGTERM comes completes with 200, then the server
    exits 0 (ServiceLifecycle's graceful shutdown: stop accepting, finish what is in flight)."""
    import http.client
    with serving(identity) as server:
        token = server.post("/xrpc/com.atproto.server.createSession",
                            {"identifier": identity.handle, "password": PASSWORD}).json()["accessJwt"]
        connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=TIMEOUT)
        body = os.urandom(256 * 1024)
        connection.putrequest("POST", "/xrpc/com.atproto.repo.uploadBlob")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Content-Type", "application/octet-stream")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        connection.send(body[:1024])              # the request is now in flight
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        connection.send(body[1024:])
        response = connection.getresponse()
        payload = response.read()
        assert response.status == 200, f"in-flight upload after SIGTERM: {response.status} {payload[:200]!r}"
        assert json.loads(payload)["blob"]["size"] == len(body)
        connection.close()
        try:
            code = server.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"pds serve still running {STOP_SECONDS} s after SIGTERM")
        assert code == 0, f"pds serve exited with {code} after SIGTERM:\n{server.stderr()}"


# --- 6. pds doctor -----------------------------------------------------------------------------

def doctor_checks(result):
    """{name: (status, detail, fix)} from `ok   name: …` / `FAIL name: …` / `     fix: …` lines."""
    checks, last = {}, None
    for line in result.stdout.splitlines():
        match = re.match(r"^(ok|FAIL|WARN)\s+([a-z0-9-]+):\s*(.*)$", line)
        if match:
            last = match.group(2)
            checks[last] = [match.group(1), match.group(3), None]
            continue
        match = re.match(r"^\s+fix:\s*(.+)$", line)
        if match and last is not None:
            checks[last][2] = match.group(1)
    return checks


def test_doctor_reports_ok_and_failures_with_fixes(identity, net):
    txt = f"_atproto.{identity.handle}"
    net.dns.set_txt(txt, f"did={identity.did}")
    try:
        result = pds("doctor", "--config", identity.conf, timeout=30)
    finally:
        net.dns.remove(txt)
    checks = doctor_checks(result)
    for name in ("config", "keys", "account", "handle", "did-document"):
        assert name in checks, f"doctor has no {name} check:\n{describe(result)}"
        assert checks[name][0] == "ok", f"doctor {name}: {checks[name]}\n{describe(result)}"
    assert identity.did in checks["account"][1] and identity.did in checks["handle"][1]
    assert net.dns.queried(txt), "doctor did not ask PDS_DNS_RESOLVER for the handle's TXT record"
    assert checks.get("dns-hostname", [None])[0] == "FAIL", f"dns-hostname for {HOSTNAME}:\n{describe(result)}"
    assert checks["dns-hostname"][2], f"the dns-hostname failure has no fix: line:\n{describe(result)}"
    assert result.returncode == 1, f"doctor with a failed check: {describe(result)}"

    without = pds("doctor", "--config", identity.conf, timeout=30)
    checks = doctor_checks(without)
    assert checks.get("handle", [None])[0] == "FAIL", f"handle without its TXT record:\n{describe(without)}"
    fix = checks["handle"][2]
    assert fix and f"_atproto.{identity.handle}" in fix, f"the handle fix does not name _atproto.: {fix!r}"
    assert identity.did in fix, f"the handle fix does not give the value did={identity.did}: {fix!r}"
    assert checks["did-document"][0] == "ok"
    assert without.returncode == 1
    assert checks.get("relay", [None])[0] == "ok" and net.relay.url in checks["relay"][1], (
        f"doctor did not check the configured relay:\n{describe(without)}")


# --- 7. pds account plc-token, pds dev --------------------------------------------------------

PLC_TOKEN = re.compile(r"[A-Z2-9]{5}-[A-Z2-9]{5}")


def test_plc_token_reads_the_data_directory_from_the_config(identity):
    result = pds("account", "plc-token", "--config", identity.conf)
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and PLC_TOKEN.fullmatch(lines[0]), f"plc-token printed {result.stdout!r}"


def test_plc_token_refuses_a_directory_without_a_server(identity, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    conf = write_conf(tmp_path / "pds.conf", {**read_conf(identity.conf), "PDS_DATA_DIRECTORY": str(empty)})
    assert_one_clear_line(pds("account", "plc-token", "--config", conf), "no initialised server", str(empty))
    assert_one_clear_line(pds("account", "plc-token", "--data", tmp_path / "missing"), "no initialised server")
    assert list(empty.iterdir()) == [] and not (tmp_path / "missing").exists(), "plc-token created files"


def test_dev_prints_its_banner_only_once_listening(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pds("dev", "--data", tmp_path / "data", "--port", port, "--password", "dev-password-1",
                     env={"PDS_CRAWLERS": "", "PDS_BSKY_APP_VIEW_URL": ""}, timeout=REFUSE_SECONDS * 3)
    assert result.returncode != 0, f"pds dev on a taken port: {describe(result)}"
    assert "is running" not in result.stdout, f"the banner was printed before the port was bound:\n{describe(result)}"
    assert re.search(rf"cannot listen on 127\.0\.0\.1:{port}", result.stderr), describe(result)


# --- secrets, across everything ---------------------------------------------------------------

def test_zz_no_secret_in_any_output(identity, passphrase):
    assert OUTPUTS
    for what, text in OUTPUTS:
        assert PASSWORD not in text, f"the init password appears in the output of {what}"
        assert PASSPHRASE not in text, f"the key passphrase appears in the output of {what}"

#!/usr/bin/env python3
"""OAuth benchmark: server CPU per DPoP-authenticated createRecord against a session-JWT one.

Starts `pds dev` on a free loopback port with a fresh data directory, signs in once with the
password (session JWT) and once through OAuth (the loopback virtual client, PAR + consent forms +
token), then alternates batches of createRecord calls with each credential and reads the server's
CPU time (its threads' schedstat) around every batch, so client time — including making
the DPoP proofs — is excluded. The difference is what DPoP costs the server: proof parsing and
ES256 verification, the jti replay record, the access-token lookup.

Run with the test tools' Python (it uses joserfc for the proofs):
  "$(Tests/tools/venv)/bin/python" Benchmarks/oauth-bench.py [--binary .build-release/release/pds] [--writes 1000]
With --callgrind the server runs under valgrind's callgrind instead, instrumented only during the
measured batches (callgrind_control), and the figures are instructions per write: noise-free on a
loaded machine where the CPU times wander (valgrind 3.19 cannot read the toolchain's DWARF 5, so a
copy without debug information runs). Prints figures; asserts nothing about speed.
"""
import argparse, glob, json, os, shutil, socket, subprocess, sys, tempfile, time
from urllib.parse import quote

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "interop"))
import requests  # noqa: E402
from oauth_support import RawClient, approve_with_forms, callback_params, proof  # noqa: E402
from procstat import run_seconds  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build-release/release/pds")
    parser.add_argument("--writes", type=int, default=1000, help="writes per credential")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--callgrind", action="store_true", help="count instructions under callgrind instead of CPU time")
    parser.add_argument("--out", default=None, help="with --callgrind: keep the dumps in this directory")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: build with `swift build -c release --scratch-path .build-release --product pds`")

    data = tempfile.mkdtemp(prefix="pds-oauth-bench-")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    password = "bench-password"
    limits = {"PDS_RATE_LIMIT_GLOBAL": "100000000/300", "PDS_RATE_LIMIT_REPO_WRITE": "100000000/3600",
              "PDS_RATE_LIMIT_CREATE_SESSION": "100000/300"}
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PDS_")}
    environment.update(limits, PDS_CRAWLERS="", PDS_BSKY_APP_VIEW_URL="")
    command, out = [args.binary], None
    if args.callgrind:
        out = args.out or tempfile.mkdtemp(prefix="oauth-callgrind-")
        os.makedirs(out, exist_ok=True)
        binary = os.path.join(out, "pds-nodebug")
        subprocess.run(["objcopy", "--strip-debug", args.binary, binary], check=True)
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/callgrind.out.%p", binary]
    server = subprocess.Popen(command + ["dev", "--data", data, "--port", str(port), "--handle", "bench.test", "--password", password],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    try:
        for _ in range(3000 if args.callgrind else 300):
            try:
                if requests.get(issuer + "/xrpc/_health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        http = requests.Session()
        session = http.post(issuer + "/xrpc/com.atproto.server.createSession",
                            json={"identifier": "bench.test", "password": password}, timeout=10).json()
        did, jwt = session["did"], session["accessJwt"]

        client_id = "http://localhost?redirect_uri=" + quote("http://127.0.0.1/callback", safe="") + "&scope=" + quote("atproto transition:generic", safe="")
        client = RawClient(issuer, client_id)
        response, verifier, _ = client.par(scope="atproto transition:generic")
        location = approve_with_forms(client.authorize_url(response.json()["request_uri"]), issuer, "bench.test", password)
        tokens = client.token(grant_type="authorization_code", code=callback_params(location)["code"], code_verifier=verifier).json()
        access = tokens["access_token"]

        url = issuer + "/xrpc/com.atproto.repo.createRecord"
        counter = [0]

        def body():
            counter[0] += 1
            return json.dumps({"repo": did, "collection": "app.bsky.feed.post",
                               "record": {"$type": "app.bsky.feed.post", "text": f"bench {counter[0]}",
                                          "createdAt": "2026-01-01T00:00:00.000Z"}})

        def jwt_write():
            r = http.post(url, data=body(), headers={"Authorization": "Bearer " + jwt, "Content-Type": "application/json"}, timeout=10)
            assert r.status_code == 200, r.text

        nonce = [client.fresh_nonce()]

        def dpop_write():
            payload = body()
            for _ in range(2):
                headers = {"Authorization": "DPoP " + access, "Content-Type": "application/json",
                           "DPoP": proof(client.key, "POST", url, nonce=nonce[0], access_token=access)}
                r = http.post(url, data=payload, headers=headers, timeout=10)
                if r.status_code == 401 and "use_dpop_nonce" in r.headers.get("WWW-Authenticate", ""):
                    nonce[0] = r.headers["DPoP-Nonce"]
                    continue
                assert r.status_code == 200, r.text
                nonce[0] = r.headers.get("DPoP-Nonce", nonce[0])
                return

        for write in (jwt_write, dpop_write):  # warm up both paths
            for _ in range(50):
                write()
        if args.callgrind:
            measure_instructions(server.pid, out, args, (("session JWT", jwt_write), ("DPoP", dpop_write)))
            return
        totals = {"session JWT": 0.0, "DPoP": 0.0}
        for _ in range(max(1, args.writes // args.batch)):
            for name, write in (("session JWT", jwt_write), ("DPoP", dpop_write)):
                before = run_seconds(server.pid)
                for _ in range(args.batch):
                    write()
                totals[name] += run_seconds(server.pid) - before
        writes = max(1, args.writes // args.batch) * args.batch
        jwt_ms = totals["session JWT"] / writes * 1000
        dpop_ms = totals["DPoP"] / writes * 1000
        print(f"binary: {args.binary}")
        print(f"writes per credential: {writes} (alternating batches of {args.batch})")
        print(f"server CPU per createRecord, session JWT: {jwt_ms:.3f} ms")
        print(f"server CPU per createRecord, DPoP:        {dpop_ms:.3f} ms")
        print(f"difference (DPoP − JWT):                  {dpop_ms - jwt_ms:+.3f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
        if out and not args.out:
            shutil.rmtree(out, ignore_errors=True)


def measure_instructions(pid, out, args, writers):
    """Instructions per write of each writer, from callgrind dumps of alternating batches."""
    control = lambda *a: subprocess.run(["callgrind_control", *a, str(pid)], check=True, capture_output=True)
    totals = {name: 0 for name, _ in writers}
    rounds = max(1, args.writes // args.batch)
    for _ in range(rounds):
        for name, write in writers:
            control("-z")
            control("-i", "on")
            for _ in range(args.batch):
                write()
            control("-i", "off")
            before = set(glob.glob(f"{out}/callgrind.out.{pid}*"))
            control("-d", name.split()[-1])
            for _ in range(600):
                after = set(glob.glob(f"{out}/callgrind.out.{pid}*")) - before
                if after:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            for line in open(sorted(after)[-1], errors="replace"):
                if line.startswith("totals:"):
                    totals[name] += int(line.split()[1])
    writes = rounds * args.batch
    print(f"binary: {args.binary} (callgrind)")
    print(f"writes per credential: {writes} (alternating batches of {args.batch})")
    for name, _ in writers:
        print(f"instructions per createRecord, {name + ':':12s} {totals[name] / writes / 1e6:.3f} M")
    names = [name for name, _ in writers]
    print(f"difference (DPoP − JWT): {(totals[names[1]] - totals[names[0]]) / writes / 1e6:+.3f} M")


if __name__ == "__main__":
    main()

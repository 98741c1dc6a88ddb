#!/usr/bin/env python3
"""Proxy benchmark: what service proxying costs, with the outbound connection pool on and off.

Starts a loopback TLS upstream playing the AppView (a local CA that the server is told to trust
with PDS_OUTBOUND_CA_FILE; HTTP/1.1 keep-alive, a fixed ~20 KB getTimeline answer), then `pds dev`
pointed at it (PDS_BSKY_APP_VIEW_URL=https://127.0.0.1:<port>), once with PDS_OUTBOUND_POOL=1 and
once with 0. For each: N proxied `app.bsky.feed.getTimeline` calls through the server, each
followed by a direct call to the upstream on the client's own keep-alive TLS connection, and N local
`com.atproto.repo.getRecord` calls for comparison. Prints:

- server CPU per call (utime+stime from /proc/<pid>/stat, and the threads' schedstat run time,
  which has nanosecond resolution) for proxied and local calls;
- the latency the proxy adds: p50/p99 of (proxied − direct), paired call by call, and the
  p50/p99 of each;
- how many TCP connections the upstream accepted.

Usage: $(Tests/tools/venv)/bin/python Benchmarks/proxy-bench.py [--binary .build/debug/pds] [--calls 200]
Prints figures; asserts nothing.
"""
import argparse, http.client, json, os, shutil, socket, ssl, statistics, subprocess, sys, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from procstat import clock_cpu_seconds, run_seconds


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def make_ca(directory):
    """A CA and a certificate for 127.0.0.1 signed by it (openssl CLI)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=proxy-bench CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(directory, "ca.pem"), os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")


TIMELINE = json.dumps({"cursor": "3l2x", "feed": [
    {"post": {"uri": f"at://did:plc:bench/app.bsky.feed.post/{i:013d}", "cid": "bafyreib" + "a" * 51,
              "author": {"did": "did:plc:bench", "handle": "bench.test", "displayName": "Bench"},
              "record": {"$type": "app.bsky.feed.post", "text": "x" * 120, "createdAt": "2026-01-01T00:00:00.000Z"},
              "indexedAt": "2026-01-01T00:00:00.000Z", "likeCount": i, "repostCount": 0, "replyCount": 0}}
    for i in range(50)]}).encode()


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are two writes: no delayed-ACK stall between them
    accepted = 0

    def setup(self):
        type(self).accepted += 1
        super().setup()

    def do_GET(self):
        body = TIMELINE if self.path.startswith("/xrpc/app.bsky.feed.getTimeline") else b'{"error":"NotFound"}'
        self.send_response(200 if body is TIMELINE else 404)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_upstream(cert, key):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(binary, pool, calls, upstream_port, ca):
    data = tempfile.mkdtemp(prefix="pds-proxy-bench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDS_")}
    env.update(PDS_BSKY_APP_VIEW_URL=f"https://127.0.0.1:{upstream_port}", PDS_OUTBOUND_CA_FILE=ca,
               PDS_OUTBOUND_POOL="1" if pool else "0", PDS_CRAWLERS="", PDS_LOG_LEVEL="warning")
    server = subprocess.Popen([binary, "dev", "--data", data, "--port", str(port), "--password", "bench-password"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(300):
            try:
                conn.request("GET", "/xrpc/_health"); conn.getresponse().read(); break
            except OSError:
                time.sleep(0.1); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        direct = http.client.HTTPSConnection("127.0.0.1", upstream_port, timeout=10,
                                             context=ssl.create_default_context(cafile=ca))

        def call(connection, method, path, body=None, token=None):
            headers = {"content-type": "application/json"} if body is not None else {}
            if token: headers["authorization"] = "Bearer " + token
            start = time.perf_counter()
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse(); payload = response.read()
            elapsed = time.perf_counter() - start
            if response.status != 200:
                raise SystemExit(f"{method} {path} -> {response.status} {payload[:200]!r}")
            return json.loads(payload), elapsed

        session, _ = call(conn, "POST", "/xrpc/com.atproto.server.createSession",
                          {"identifier": "alice.test", "password": "bench-password"})
        token, did = session["accessJwt"], session["did"]
        created, _ = call(conn, "POST", "/xrpc/com.atproto.repo.createRecord",
                          {"repo": did, "collection": "app.bsky.feed.post",
                           "record": {"$type": "app.bsky.feed.post", "text": "hello", "createdAt": "2026-01-01T00:00:00.000Z"}}, token)
        rkey = created["uri"].rsplit("/", 1)[1]
        timeline = "/xrpc/app.bsky.feed.getTimeline?limit=50"
        for _ in range(20):  # warm-up: TLS context, pool, caches
            call(conn, "GET", timeline, token=token); call(direct, "GET", timeline)
        accepted_before = Upstream.accepted

        proxied, straight = [], []
        cpu0, run0 = clock_cpu_seconds(server.pid), run_seconds(server.pid)
        for _ in range(calls):
            _, p = call(conn, "GET", timeline, token=token)
            _, d = call(direct, "GET", timeline)
            proxied.append(p); straight.append(d)
        cpu_proxy, run_proxy = clock_cpu_seconds(server.pid) - cpu0, run_seconds(server.pid) - run0
        connections = Upstream.accepted - accepted_before

        get_record = f"/xrpc/com.atproto.repo.getRecord?repo={did}&collection=app.bsky.feed.post&rkey={rkey}"
        for _ in range(20):
            call(conn, "GET", get_record)
        local = []
        cpu0, run0 = clock_cpu_seconds(server.pid), run_seconds(server.pid)
        for _ in range(calls):
            local.append(call(conn, "GET", get_record)[1])
        cpu_local, run_local = clock_cpu_seconds(server.pid) - cpu0, run_seconds(server.pid) - run0
        return dict(proxied=proxied, direct=straight, local=local, cpu_proxy=cpu_proxy, run_proxy=run_proxy,
                    cpu_local=cpu_local, run_local=run_local, connections=connections)
    finally:
        server.terminate()
        try: server.wait(timeout=10)
        except subprocess.TimeoutExpired: server.kill()
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/debug/pds")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found (swift build --product pds, or a release build)")
    work = tempfile.mkdtemp(prefix="proxy-bench-ca-")
    try:
        ca, cert, key = make_ca(work)
        upstream = start_upstream(cert, key)
        port = upstream.server_address[1]
        ms = lambda seconds: f"{seconds * 1000:7.3f} ms"
        print(f"proxy benchmark: {args.binary}, {args.calls} sequential calls each, loopback TLS upstream "
              f"({len(TIMELINE)} byte getTimeline), {os.cpu_count()} cores")
        for pool in (True, False):
            r = run(args.binary, pool, args.calls, port, ca)
            added = [p - d for p, d in zip(r["proxied"], r["direct"])]
            n = args.calls
            print(f"\n  pool {'on ' if pool else 'off'} (PDS_OUTBOUND_POOL={'1' if pool else '0'}): "
                  f"upstream accepted {r['connections']} new connection(s) during {n} proxied calls")
            print(f"    server CPU / proxied getTimeline: {ms(r['run_proxy'] / n)} (schedstat)  {ms(r['cpu_proxy'] / n)} (/proc stat)")
            print(f"    server CPU / local getRecord:     {ms(r['run_local'] / n)} (schedstat)  {ms(r['cpu_local'] / n)} (/proc stat)")
            print(f"    ratio proxied / getRecord CPU:    {r['run_proxy'] / max(r['run_local'], 1e-9):.2f}x")
            print(f"    added latency p50 / p99:          {ms(percentile(added, .5))} / {ms(percentile(added, .99))}")
            print(f"    proxied latency p50 / p99:        {ms(percentile(r['proxied'], .5))} / {ms(percentile(r['proxied'], .99))}")
            print(f"    direct latency p50 / p99:         {ms(percentile(r['direct'], .5))} / {ms(percentile(r['direct'], .99))}")
            print(f"    getRecord latency p50 / p99:      {ms(percentile(r['local'], .5))} / {ms(percentile(r['local'], .99))}")
        upstream.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

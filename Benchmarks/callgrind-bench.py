#!/usr/bin/env python3
"""Instruction and allocation counts per request, from valgrind's callgrind: noise-free figures on a
loaded machine, where CPU-time benchmarks wander.

    Benchmarks/callgrind-bench.py [--binary .build-release/release/pds] [--calls 200] [--data DIR]

Starts `pds dev` under `valgrind --tool=callgrind --instr-atstart=no` on a fresh data directory,
logs in, writes 100 posts, then for each request kind (no-op `GET /robots.txt`, the same on a new
connection each time, `getRecord`,
`listRecords` limit 50, `describeServer`, `createRecord`), after 20 warm-up calls: zeroes the
counters, switches instrumentation on, makes N sequential calls on one kept-alive connection,
switches it off and dumps (the binary runs as a copy without debug information, which
valgrind 3.19 cannot read). Prints, per call: instructions (Ir) of the whole process, the ratio to the
no-op, and calls to malloc (plus calloc/realloc/posix_memalign). The dumps stay in --out for
`callgrind_annotate`. With --data it uses that data directory, kept, instead of a fresh one (the
repository `server-bench.py --large-data` built, for figures at 1,000,000 records; the password is
set to the benchmark's again). Needs valgrind; prints figures, asserts nothing.
"""
import argparse, glob, http.client, json, os, re, shutil, socket, subprocess, sys, tempfile, time

PASSWORD = "bench-password"
POST = {"$type": "app.bsky.feed.post", "createdAt": "2026-11-22T12:00:00.000Z", "langs": ["en"],
        "text": "Benchmarking a personal data server: one signed commit per post, written to SQLite. " * 2}
ALLOCATORS = {"malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_dump(path):
    """(total Ir, calls to allocators) of one callgrind dump."""
    names, total, allocations, pending = {}, 0, 0, None
    for line in open(path, errors="replace"):
        if line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
        match = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
        if match:
            if match.group(2):
                names[match.group(1)] = match.group(2).strip()
            pending = names.get(match.group(1)) if line.startswith("cfn=") else None
            continue
        if pending is not None and line.startswith("calls="):
            if pending.split("@")[0] in ALLOCATORS:
                allocations += int(line.split("=")[1].split()[0])
            pending = None
    return total, allocations


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build-release/release/pds")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", default=None, help="directory for the dumps (default: a temporary one, removed)")
    parser.add_argument("--data", default=None, help="an existing data directory to use (kept) instead of a fresh one")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind not found")
    out = args.out or tempfile.mkdtemp(prefix="callgrind-bench-")
    os.makedirs(out, exist_ok=True)
    # valgrind 3.19 gives up on the DWARF 5 the Swift toolchain emits: run a copy without debug
    # information (the symbol table stays, so functions keep their names).
    binary = os.path.join(out, "pds-nodebug")
    subprocess.run(["objcopy", "--strip-debug", args.binary, binary], check=True)
    data = args.data or tempfile.mkdtemp(prefix="pds-callgrind-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDS_")}
    env.update(PDS_LOG_LEVEL="warning", PDS_RATE_LIMITS_ENABLED="false", PDS_CRAWLERS="")
    server = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/callgrind.out.%p",
                               binary, "dev", "--data", data, "--port", str(port), "--password", PASSWORD],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        conn = None
        for _ in range(1200):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                conn.request("GET", "/xrpc/_health"); conn.getresponse().read(); break
            except OSError:
                time.sleep(0.25)
        else:
            sys.exit("pds under valgrind did not start")

        def call(method, path, body=None, token=None, raw=False):
            headers = {"content-type": "application/json"} if body is not None else {}
            if token: headers["authorization"] = "Bearer " + token
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse(); payload = response.read()
            if response.status != 200:
                sys.exit(f"{method} {path} -> {response.status} {payload[:200]!r}")
            return payload if raw else json.loads(payload)

        session = call("POST", "/xrpc/com.atproto.server.createSession", {"identifier": "alice.test", "password": PASSWORD})
        token, did = session["accessJwt"], session["did"]
        rkeys = [call("POST", "/xrpc/com.atproto.repo.createRecord",
                      {"repo": did, "collection": "app.bsky.feed.post", "record": POST}, token)["uri"].rsplit("/", 1)[1]
                 for _ in range(100)]
        def fresh_connection(i):
            fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            fresh.request("GET", "/robots.txt")
            fresh.getresponse().read()
            fresh.close()
        kinds = [
            ("no-op GET /robots.txt", lambda i: call("GET", "/robots.txt", raw=True)),
            ("new connection + robots", fresh_connection),
            ("describeServer", lambda i: call("GET", "/xrpc/com.atproto.server.describeServer")),
            ("getRecord", lambda i: call("GET", f"/xrpc/com.atproto.repo.getRecord?repo={did}&collection=app.bsky.feed.post&rkey={rkeys[i % 100]}")),
            ("listRecords (limit 50)", lambda i: call("GET", f"/xrpc/com.atproto.repo.listRecords?repo={did}&collection=app.bsky.feed.post&limit=50")),
            ("createRecord", lambda i: call("POST", "/xrpc/com.atproto.repo.createRecord",
                                            {"repo": did, "collection": "app.bsky.feed.post", "record": POST}, token)),
        ]
        control = lambda *a: subprocess.run(["callgrind_control", *a, str(server.pid)], check=True, capture_output=True)
        results = []
        for name, body in kinds:
            for i in range(20):
                body(i)
            control("-z")
            control("-i", "on")
            for i in range(args.calls):
                body(i)
            control("-i", "off")
            before = set(glob.glob(f"{out}/callgrind.out.{server.pid}*"))
            control("-d", name.split()[0])
            for _ in range(600):
                after = set(glob.glob(f"{out}/callgrind.out.{server.pid}*")) - before
                if after: break
                time.sleep(0.1)
            time.sleep(0.5)
            total, allocations = parse_dump(sorted(after)[-1])
            results.append((name, total / args.calls, allocations / args.calls))
        noop = results[0][1]
        print(f"callgrind: {args.binary}, {args.calls} calls per kind, kept-alive loopback connection; dumps in {out}")
        for name, instructions, allocations in results:
            print(f"  {name + ':':28s} {instructions / 1e6:8.3f} M instructions  {instructions / noop:6.2f}x no-op  "
                  f"{allocations:8.1f} allocations")
    finally:
        server.terminate()
        try: server.wait(timeout=60)
        except subprocess.TimeoutExpired: server.kill()
        if not args.data: shutil.rmtree(data, ignore_errors=True)
        if not args.out: shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

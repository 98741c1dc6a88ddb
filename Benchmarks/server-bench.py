#!/usr/bin/env python3
"""Server benchmark: what each kind of request costs the server, and its memory, on a real `pds dev`.

    Benchmarks/server-bench.py [--build] [--binary .build-release/release/pds]
                               [--bench-binary .build-release/release/pds-bench] [--calls 2000]
                               [--writes 2000] [--large 1000000] [--runs 1]

With --build it first builds both release binaries (static Swift runtime, as shipped). Then, on a
fresh data directory, it starts the server on a free loopback port, pointed at a loopback TLS
stand-in AppView (Benchmarks/proxy-bench.py's: fixed ~20 KB getTimeline, local CA), and prints:

- server CPU per call, from /proc/<pid>/task/*/schedstat (all threads' time on a CPU, ns
  resolution), and its ratio to a kept-alive no-op request (`GET /robots.txt`: HTTP parsing,
  middleware and routing only) measured in the same run: new connection + `_health`,
  `describeServer`, `getRecord`, `listRecords` (limit 50), `createRecord` (N sequential),
  proxied `getTimeline`; `getRepo` as MB/s (wall) with its CPU per MB and the largest RSS seen
  while streaming;
- RSS at start, after 10 logins each on a fresh connection, after the writes;
- time from spawning the process to the first 200 from `_health` (wall, and the process's CPU;
  on a loaded machine the wall time is mostly waiting for a core).

With --large N (default 1,000,000; 0 skips it) it then builds a repository of N like records (one
`pds dev` start to create the account, `pds-bench bulk-repo` to fill it while stopped) and prints
the same write and read figures on it, the start-up time to the first 200, and RSS at start and in
steady state after the writes and reads.

Rate limits are switched off (PDS_RATE_LIMITS_ENABLED=false): thousands of calls from one address
are the point here. Prints figures; asserts nothing about speed.
"""
import argparse, http.client, importlib.util, json, os, random, shutil, socket, subprocess, sys, tempfile, threading, time

from procstat import clock_cpu_seconds, rss_mib

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("proxy_bench", os.path.join(HERE, "proxy-bench.py"))
proxy_bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proxy_bench)

PASSWORD = "bench-password"
POST = {"$type": "app.bsky.feed.post", "createdAt": "2026-11-22T12:00:00.000Z", "langs": ["en"],
        "text": "Benchmarking a personal data server: one signed commit per post, written to SQLite. " * 2}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def thread_run_times(pid):
    """Each thread's time on a CPU (schedstat, ns resolution), by thread id."""
    times = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            times[task] = int(open(f"/proc/{pid}/task/{task}/schedstat").read().split()[0])
        except OSError:
            pass
    return times


def run_seconds_since(pid, before):
    """CPU time the process's threads used since `before` (thread_run_times). A thread that
    exited meanwhile (libdispatch retires idle workers) is left out rather than subtracted, so an
    earlier phase's work never makes a later phase look cheaper."""
    after = thread_run_times(pid)
    return sum(ns - before.get(task, 0) for task, ns in after.items()) / 1e9


class Server:
    """One `pds dev` process on a data directory."""

    def __init__(self, binary, data, env, set_password=True):
        self.port = free_port()
        self.spawned = time.perf_counter()
        # `--password` on a later start resets the password (one scrypt): only the first start sets it.
        password = ["--password", PASSWORD] if set_password else []
        self.process = subprocess.Popen([binary, "dev", "--data", data, "--port", str(self.port)] + password,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.pid = self.process.pid
        self.startup = self.wait_ready()
        self.startup_cpu = clock_cpu_seconds(self.pid)
        self.conn = self.connect()

    def connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def wait_ready(self):
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"pds exited with {self.process.returncode} during start-up")
            try:
                conn = self.connect()
                conn.request("GET", "/xrpc/_health")
                if conn.getresponse().status == 200:
                    elapsed = time.perf_counter() - self.spawned
                    conn.close()
                    return elapsed
            except OSError:
                pass
            time.sleep(0.005)
        raise SystemExit("pds did not answer within 120 s")

    def call(self, method, path, body=None, token=None, conn=None, raw=False):
        conn = conn or self.conn
        headers = {"content-type": "application/json"} if body is not None else {}
        if token:
            headers["authorization"] = "Bearer " + token
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise SystemExit(f"{method} {path} -> {response.status} {payload[:200]!r}")
        return payload if raw else json.loads(payload)

    def login(self, conn=None):
        return self.call("POST", "/xrpc/com.atproto.server.createSession",
                         {"identifier": "alice.test", "password": PASSWORD}, conn=conn)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def measure(server, count, body):
    """Server CPU per call (s) over `count` calls of body(i)."""
    for i in range(min(20, count)):  # warm-up: caches, statement caches, connection buffers
        body(i)
    before = thread_run_times(server.pid)
    for i in range(count):
        body(i)
    return run_seconds_since(server.pid, before) / count


def get_repo(server, did):
    """Streams getRepo; returns (bytes, wall seconds, server CPU seconds, largest RSS seen)."""
    peak, done = [rss_mib(server.pid)], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(server.pid))
            time.sleep(0.02)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    conn = server.connect()
    # The export runs on a thread of its own that exits at the end: whole-process figures.
    cpu0, start = clock_cpu_seconds(server.pid), time.perf_counter()
    conn.request("GET", f"/xrpc/com.atproto.sync.getRepo?did={did}")
    response = conn.getresponse()
    total = 0
    while chunk := response.read(1 << 16):
        total += len(chunk)
    wall, cpu = time.perf_counter() - start, clock_cpu_seconds(server.pid) - cpu0
    done.set()
    sampler.join()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"getRepo -> {response.status}")
    return total, wall, cpu, peak[0]


def request_figures(server, token, did, calls, writes, collection_for_reads, report):
    """The per-call figures on a running server; fills `report` (name → seconds per call)."""
    noop = measure(server, calls, lambda i: server.call("GET", "/robots.txt", raw=True))
    report["no-op (GET /robots.txt, kept-alive)"] = noop

    def fresh_health(i):
        conn = server.connect()
        server.call("GET", "/xrpc/_health", conn=conn)
        conn.close()
    report["new connection + _health"] = measure(server, calls // 4, fresh_health)
    report["_health (kept-alive)"] = measure(server, calls, lambda i: server.call("GET", "/xrpc/_health"))
    report["describeServer"] = measure(server, calls, lambda i: server.call("GET", "/xrpc/com.atproto.server.describeServer"))

    uris = []
    def create(i):
        uris.append(server.call("POST", "/xrpc/com.atproto.repo.createRecord",
                                {"repo": did, "collection": "app.bsky.feed.post", "record": POST}, token)["uri"])
    report[f"createRecord ({writes} sequential)"] = measure(server, writes, create)

    page = server.call("GET", f"/xrpc/com.atproto.repo.listRecords?repo={did}&collection={collection_for_reads}&limit=100")
    rkeys = [record["uri"].rsplit("/", 1)[1] for record in page["records"]]
    report["getRecord"] = measure(server, calls, lambda i: server.call(
        "GET", f"/xrpc/com.atproto.repo.getRecord?repo={did}&collection={collection_for_reads}&rkey={rkeys[i % len(rkeys)]}"))
    report["listRecords (limit 50)"] = measure(server, max(calls // 4, 1), lambda i: server.call(
        "GET", f"/xrpc/com.atproto.repo.listRecords?repo={did}&collection={collection_for_reads}&limit=50"))
    report["proxied getTimeline"] = measure(server, max(calls // 4, 1), lambda i: server.call(
        "GET", "/xrpc/app.bsky.feed.getTimeline?limit=50", token=token))
    return noop


def print_report(title, report, noop, extra):
    print(f"\n{title}")
    for name, seconds in report.items():
        print(f"  {name + ':':44s} {seconds * 1000:8.3f} ms CPU   {seconds / noop:6.2f}x no-op")
    for line in extra:
        print("  " + line)


def small_run(args, env):
    data = tempfile.mkdtemp(prefix="pds-bench-")
    server = Server(args.binary, data, env)
    try:
        time.sleep(1.0)  # let start-up allocations settle
        start_rss = rss_mib(server.pid)
        token, did = None, None
        for _ in range(10):
            conn = server.connect()
            session = server.login(conn)
            conn.close()
            token, did = session["accessJwt"], session["did"]
        time.sleep(0.5)
        login_rss = rss_mib(server.pid)
        report = {}
        # Seed a few records to read before the measured writes (the writes are measured inside).
        for _ in range(100):
            server.call("POST", "/xrpc/com.atproto.repo.createRecord",
                        {"repo": did, "collection": "app.bsky.feed.post", "record": POST}, token)
        noop = request_figures(server, token, did, args.calls, args.writes, "app.bsky.feed.post", report)
        write_rss = rss_mib(server.pid)
        size, wall, cpu, peak = get_repo(server, did)
        print_report(f"fresh repository ({args.writes + 100} posts; {args.calls} calls per read figure)", report, noop, [
            f"getRepo: {size / 1e6:.2f} MB in {wall * 1000:.1f} ms = {size / 1e6 / wall:.1f} MB/s, "
            f"{cpu / (size / 1e6) * 1000:.2f} ms CPU per MB, RSS peak while streaming {peak:.1f} MiB",
            f"start-up to first 200: {server.startup * 1000:.0f} ms wall, {server.startup_cpu * 1000:.0f} ms CPU",
            f"RSS at start {start_rss:.1f} MiB, after 10 logins on fresh connections {login_rss:.1f} MiB, "
            f"after the writes and reads {write_rss:.1f} MiB",
        ])
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def large_run(args, env):
    keep = args.large_data is not None
    data = args.large_data or tempfile.mkdtemp(prefix="pds-bench-large-")
    try:
        if not os.path.exists(os.path.join(data, "pds.sqlite")):
            os.makedirs(data, exist_ok=True)
            first = Server(args.binary, data, env)  # creates the account and the empty repository
            first.stop()
            started = time.perf_counter()
            subprocess.run([args.bench_binary, "bulk-repo", "--data", data, "--records", str(args.large)], check=True)
            print(f"\n  (bulk-repo: {args.large} records in {time.perf_counter() - started:.1f} s; "
                  f"database {os.path.getsize(os.path.join(data, 'pds.sqlite')) / 1e6:.0f} MB)")
        else:
            print(f"\n  (reusing the repository in {data})")
        server = Server(args.binary, data, env, set_password=False)
        try:
            time.sleep(1.0)
            start_rss = rss_mib(server.pid)
            session = server.login()
            token, did = session["accessJwt"], session["did"]
            report = {}
            noop = request_figures(server, token, did, args.calls, args.writes, "app.bsky.feed.like", report)
            size, wall, cpu, peak = get_repo(server, did)
            time.sleep(1.0)
            steady_rss = rss_mib(server.pid)
            print_report(f"repository of {args.large} records", report, noop, [
                f"getRepo: {size / 1e6:.2f} MB in {wall:.2f} s = {size / 1e6 / wall:.1f} MB/s, "
                f"{cpu / (size / 1e6) * 1000:.2f} ms CPU per MB, RSS peak while streaming {peak:.1f} MiB",
                f"start-up to first 200: {server.startup * 1000:.0f} ms wall, {server.startup_cpu * 1000:.0f} ms CPU",
                f"RSS at start {start_rss:.1f} MiB, steady after the writes and reads {steady_rss:.1f} MiB",
            ])
        finally:
            server.stop()
    finally:
        if not keep:
            shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", action="store_true", help="build both release binaries first")
    parser.add_argument("--binary", default=".build-release/release/pds")
    parser.add_argument("--bench-binary", default=".build-release/release/pds-bench")
    parser.add_argument("--calls", type=int, default=2000, help="calls per read figure")
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--large", type=int, default=1_000_000, help="records in the large repository (0: skip)")
    parser.add_argument("--large-data", default=None,
                        help="keep the large repository in this directory and reuse it when it is there (the writes add to it)")
    parser.add_argument("--runs", type=int, default=1, help="repeat the fresh-repository run")
    args = parser.parse_args()
    if args.build:
        for product in ("pds", "pds-bench"):
            subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--scratch-path", ".build-release",
                            "--product", product], check=True)
    for path in (args.binary,) + ((args.bench_binary,) if args.large else ()):
        if not os.path.exists(path):
            sys.exit(f"{path} not found: run with --build, or build with `swift build -c release --static-swift-stdlib "
                     f"--scratch-path .build-release --product pds` (and --product pds-bench)")

    work = tempfile.mkdtemp(prefix="server-bench-ca-")
    try:
        ca, cert, key = proxy_bench.make_ca(work)
        upstream = proxy_bench.start_upstream(cert, key)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PDS_")}
        env.update(PDS_BSKY_APP_VIEW_URL=f"https://127.0.0.1:{upstream.server_address[1]}", PDS_OUTBOUND_CA_FILE=ca,
                   PDS_CRAWLERS="", PDS_LOG_LEVEL="warning", PDS_RATE_LIMITS_ENABLED="false")
        print(f"pds server benchmark: {args.binary}, one sequential client on loopback, {os.cpu_count()} cores; "
              f"server CPU = all its threads' run time (schedstat)")
        for _ in range(args.runs):
            small_run(args, env)
        if args.large:
            large_run(args, env)
        upstream.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

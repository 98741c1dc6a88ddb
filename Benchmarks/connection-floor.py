#!/usr/bin/env python3
"""What a new connection costs `pds` against the floor on this machine: a bare SwiftNIO HTTP/1.1
server (Benchmarks/nio-floor) answering the same `_health` body.

    Benchmarks/connection-floor.py [--binary .build-release/release/pds]
                                   [--floor-binary .build-release/release/nio-floor]
                                   [--calls 2000] [--runs 3] [--callgrind]

For each server, with server-bench.py's client pattern (Python's http.client on loopback): server
CPU per call (all threads' schedstat run time) for `GET /xrpc/_health` on a kept-alive
connection, and on a new connection each time (connect, request, read, close); the difference is
the connection's own cost (accept, pipeline set-up, teardown, and the kernel's share of the
handshake, which schedstat charges to the server's threads), with its user/system split from
/proc/<pid>/stat (10 ms ticks: meaningful over thousands of calls). `pds`'s `_health` also pings
the database; the difference cancels that out. With --callgrind it instead counts instructions and
allocations per call for both servers under valgrind (user space only: no kernel time).
Prints figures; asserts nothing.
"""
import argparse, glob, http.client, importlib.util, os, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load("server_bench", "server-bench.py")
cgbench = load("callgrind_bench", "callgrind-bench.py")


def start(command, env=None):
    """Starts a server on a free port; returns (process, port) once it answers `_health`."""
    port = bench.free_port()
    process = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 600
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"{command(port)[0]} exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            conn.request("GET", "/xrpc/_health")
            if conn.getresponse().status == 200:
                conn.close()
                return process, port
        except OSError:
            time.sleep(0.05)
    sys.exit("server did not answer")


def kinds(port):
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def kept_alive(i):
        kept.request("GET", "/xrpc/_health")
        kept.getresponse().read()

    def fresh(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.request("GET", "/xrpc/_health")
        conn.getresponse().read()
        conn.close()
    return [("_health, kept-alive", kept_alive), ("new connection + _health", fresh)]


def user_system_seconds(pid):
    """The process's user and system CPU time (utime, stime; 10 ms resolution)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")


def cpu_figures(process, port, calls):
    """(name, CPU s per call, user s per call, system s per call) for each kind."""
    results = []
    for name, body in kinds(port):
        for i in range(20):
            body(i)
        before, (user0, system0) = bench.thread_run_times(process.pid), user_system_seconds(process.pid)
        for i in range(calls):
            body(i)
        user1, system1 = user_system_seconds(process.pid)
        results.append((name, bench.run_seconds_since(process.pid, before) / calls, (user1 - user0) / calls, (system1 - system0) / calls))
    return results


def callgrind_figures(process, port, calls, out):
    results = []
    control = lambda *a: subprocess.run(["callgrind_control", *a, str(process.pid)], check=True, capture_output=True)
    for name, body in kinds(port):
        for i in range(20):
            body(i)
        control("-z")
        control("-i", "on")
        for i in range(calls):
            body(i)
        control("-i", "off")
        before = set(glob.glob(f"{out}/callgrind.out.{process.pid}*"))
        control("-d", name.split()[0])
        for _ in range(600):
            after = set(glob.glob(f"{out}/callgrind.out.{process.pid}*")) - before
            if after:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        total, allocations = cgbench.parse_dump(sorted(after)[-1])
        results.append((name, total / calls, allocations / calls))
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build-release/release/pds")
    parser.add_argument("--floor-binary", default=".build-release/release/nio-floor")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--out", default=None, help="directory for callgrind dumps (default: temporary, removed)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDS_")}
    env.update(PDS_LOG_LEVEL="warning", PDS_RATE_LIMITS_ENABLED="false", PDS_CRAWLERS="")
    data = tempfile.mkdtemp(prefix="pds-connection-floor-")
    out = args.out or tempfile.mkdtemp(prefix="connection-floor-")
    os.makedirs(out, exist_ok=True)
    servers = {
        "nio-floor": lambda port: [args.floor_binary, "--port", str(port)],
        "pds": lambda port: [args.binary, "dev", "--data", data, "--port", str(port), "--password", "bench-password"],
    }
    try:
        if args.callgrind:
            calls = min(args.calls, 200)
            print(f"callgrind, {calls} calls per kind (user-space instructions and allocations per call)")
            for label, command in servers.items():
                binary = os.path.join(out, label + "-nodebug")
                subprocess.run(["objcopy", "--strip-debug", command(0)[0], binary], check=True)
                wrapped = lambda port, command=command, binary=binary: [
                    "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/callgrind.out.%p",
                    binary] + command(port)[1:]
                process, port = start(wrapped, env)
                try:
                    figures = callgrind_figures(process, port, calls, out)
                finally:
                    process.terminate()
                    process.wait(timeout=60)
                (_, kept, kept_alloc), (_, fresh, fresh_alloc) = figures
                print(f"  {label:10s} kept-alive {kept / 1e6:6.3f} M, new connection {fresh / 1e6:6.3f} M "
                      f"(+{(fresh - kept) / 1e6:.3f} M); allocations {kept_alloc:.1f} / {fresh_alloc:.1f} (+{fresh_alloc - kept_alloc:.1f})")
            return
        print(f"server CPU per call (schedstat), {args.calls} calls per kind, {args.runs} runs, {os.cpu_count()} cores")
        for run in range(args.runs):
            for label, command in servers.items():
                process, port = start(command, env)
                try:
                    time.sleep(0.5)
                    (_, kept, kept_user, kept_system), (_, fresh, fresh_user, fresh_system) = cpu_figures(process, port, args.calls)
                finally:
                    process.terminate()
                    process.wait(timeout=60)
                print(f"  run {run + 1} {label:10s} kept-alive {kept * 1000:.3f} ms, new connection {fresh * 1000:.3f} ms, "
                      f"connection overhead {(fresh - kept) * 1000:.3f} ms (user {(fresh_user - kept_user) * 1000:.3f}, "
                      f"system {(fresh_system - kept_system) * 1000:.3f})")
    finally:
        shutil.rmtree(data, ignore_errors=True)
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

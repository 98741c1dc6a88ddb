"""What the benchmarks read about a server process from /proc (Linux only).

Imported by the benchmark scripts beside it (Python puts a script's own directory on sys.path).
"""

import os


def status_kib(pid, name):
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, …); LookupError when absent."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise LookupError(f"no {name} in /proc/{pid}/status")


def rss_mib(pid):
    """Resident set size (VmRSS) in MiB."""
    return status_kib(pid, "VmRSS") / 1024


def clock_cpu_seconds(pid):
    """utime + stime of the whole process, exited threads included (clock ticks: 10 ms
    resolution, fine for long phases)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_seconds(pid):
    """The live threads' time on a CPU from schedstat (ns resolution, for differences a clock
    tick would hide). Threads that exited are not counted."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{task}/schedstat").read().split()[0])
        except OSError:
            pass
    return total / 1e9

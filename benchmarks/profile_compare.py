#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Compares the profiles that `BENCH_PROFILE=1 bash benchmarks/redis_cluster.sh` takes of the
cache on redis:// and on redis-cluster:// at one concurrency, per operation, and prints the
comparison as Markdown:

- time (perf record, cpu-clock samples): CPU per operation in the kernel and in user space,
  and the symbols whose time per operation grew the most;
- system calls and context switches per operation (perf stat);
- instructions per operation (callgrind, the difference of a run of N and of 3N operations, so
  that start-up and prefill cancel out), grouped into what the cluster's routing adds and what
  its three connections add.

    profile_compare.py --raw DIR --concurrency C [--freq HZ]
"""

import argparse
import collections
import json
import re
import subprocess

# Callgrind functions, grouped by what they are for; the first group that matches wins.
GROUPS = [
    ("slot hashing (`key_slot`, CRC16 of the key)", r"cluster::key_slot"),
    ("topology snapshot (mutex, `shared_ptr` copies)",
     r"cluster_core::snapshot|pthread_mutex_lock|pthread_mutex_unlock|_Sp_counted_base.*_M_release"),
    ("command bytes copied per attempt (`std::string` append)",
     r"basic_string.*::_M_mutate|basic_string.*::append\(char const\*"),
    ("two more coroutine frames per operation (the cluster's `get`, `cluster_core::send`)",
     r"redis_cluster_backend::get|cluster_core::send|awaitable<std::tuple<boost::system::"
     r"error_code, asiocache::raw_reply>.*await_resume|_Tuple_impl<0ul, boost::system::"
     r"error_code, asiocache::raw_reply>|raw_reply::~raw_reply|basic_string\(std::__cxx11::"
     r"basic_string<char, std::char_traits<char>, std::allocator<char> >&&\)|thread_info_base::"
     r"deallocate|_mid_memalign|memalign"),
    ("`route`", r"redis_cluster_backend::route|redis_backend::route"),
    ("malloc and free (all callers)",
     r"^(malloc|free|_int_free|_int_malloc|cfree|malloc_consolidate|unlink_chunk)|operator new|"
     r"operator delete"),
    ("the connections and Asio's scheduler (three connections, smaller batches)",
     r"pipelined_connection|boost::asio"),
]


def ops_of(path):
    return json.load(open(path))["results"][0]["asiocache"]["operations"]


def perf_symbols(path):
    """{(dso, symbol): samples} of one perf recording."""
    out = subprocess.run(["perf", "report", "-i", path, "--no-children", "-F", "sample,dso,sym",
                          "--stdio", "-g", "none"], capture_output=True, text=True).stdout
    t = collections.Counter()
    for line in out.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        n, dso, sym = line.split(None, 2)
        t[(dso, sym.strip().replace("[.] ", "").replace("[k] ", "kernel: ")[:100])] += int(n)
    return t


def perf_stat(path):
    stats = {}
    for line in open(path):
        p = line.strip().split(",")
        if len(p) > 3 and p[0][:1].isdigit():
            stats[p[2]] = float(p[0])
    return stats


def callgrind_self(path):
    """{function: instructions spent in it} of one callgrind output."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    t = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if m and ":" in m.group(2):
            name = re.sub(r"^[^?]\S*?:", "", m.group(2), count=1)
            t[name.replace("???:", "")[:400]] += int(m.group(1).replace(",", ""))
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--freq", type=float, default=3999)
    ap.add_argument("--ops", type=int, default=20000, help="callgrind's smaller run")
    a = ap.parse_args()
    c, raw = a.concurrency, a.raw
    kinds = ("redis", "redis-cluster")
    print(f"### Concurrency {c}")
    print()

    # ---- time
    per_op = {}
    for k in kinds:
        ops = ops_of(f"{raw}/perf_{k}_{c}.json")
        per_op[k] = {s: n / a.freq / ops * 1e9
                     for s, n in perf_symbols(f"{raw}/perf_{k}_{c}.data").items()}
    print("Time (perf, cpu-clock samples over the measured window), ns of CPU per operation:")
    print()
    print("| | `redis://` | `redis-cluster://` | difference |")
    print("|---|---:|---:|---:|")
    for label, pick in (("kernel", lambda s: s[0] == "[kernel.kallsyms]"),
                        ("user space", lambda s: s[0] != "[kernel.kallsyms]"),
                        ("total", lambda s: True)):
        x, y = (sum(v for s, v in per_op[k].items() if pick(s)) for k in kinds)
        print(f"| {label} | {x:.0f} | {y:.0f} | {y - x:+.0f} |")
    print()
    keys = set(per_op["redis"]) | set(per_op["redis-cluster"])
    grew = sorted(keys, key=lambda s: per_op["redis"].get(s, 0) - per_op["redis-cluster"].get(s, 0))
    print("The symbols whose time per operation grew the most (ns):")
    print()
    print("| symbol | `redis://` | `redis-cluster://` | difference |")
    print("|---|---:|---:|---:|")
    for s in grew[:15]:
        x, y = per_op["redis"].get(s, 0), per_op["redis-cluster"].get(s, 0)
        print(f"| `{s[1]}` | {x:.0f} | {y:.0f} | {y - x:+.0f} |")
    print()

    # ---- system calls
    st = {k: perf_stat(f"{raw}/stat_{k}_{c}.txt") for k in kinds}
    sops = {k: ops_of(f"{raw}/stat_{k}_{c}.json") for k in kinds}
    print("Per operation (perf stat): " + "; ".join(
        f"`{k}://` {st[k].get('raw_syscalls:sys_enter', 0) / sops[k]:.3f} system calls and "
        f"{st[k].get('context-switches', 0) / sops[k]:.3f} context switches" for k in kinds) + ".")
    print()

    # ---- instructions
    marginal = {}
    for k in kinds:
        small = callgrind_self(f"{raw}/callgrind_{k}_{c}_{a.ops}.out")
        large = callgrind_self(f"{raw}/callgrind_{k}_{c}_{3 * a.ops}.out")
        marginal[k] = {f: (large[f] - small[f]) / (2 * a.ops) for f in set(small) | set(large)}
    s, r = marginal["redis"], marginal["redis-cluster"]
    ts, tr = sum(s.values()), sum(r.values())
    print(f"Instructions per operation (callgrind): `redis://` {ts:.0f}, `redis-cluster://` "
          f"{tr:.0f}, {tr - ts:+.0f} ({100 * (tr / ts - 1):+.1f}%), of which:")
    print()
    print("| what | instructions per operation | share of the difference | share of `redis://` |")
    print("|---|---:|---:|---:|")
    used = set()
    for label, pattern in GROUPS + [("other", r"")]:
        names = [f for f in set(s) | set(r) if f not in used and re.search(pattern, f)]
        used |= set(names)
        d = sum(r.get(f, 0) - s.get(f, 0) for f in names)
        print(f"| {label} | {d:+.0f} | {100 * d / (tr - ts):.0f}% | {100 * d / ts:.1f}% |")
    print()


if __name__ == "__main__":
    main()

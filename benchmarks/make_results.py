#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes benchmarks/RESULTS.md (to stdout) from the raw outputs of benchmarks/run_all.sh.

Every figure is a median: over the BENCH_RUNS runs for the sweep, redis-benchmark, redis_bench
and the Python floors; over the BENCH_REPS repetitions for the Google Benchmark binaries. Each
target of DESIGN.md section 8 and of the issues gets a computed verdict. Also copies the
sweep's report (report.json, summary.md, charts) of the median run to --report-out.

With --cluster, writes instead the Redis Cluster section and its target row from the raw
outputs of benchmarks/redis_cluster.sh into an existing RESULTS.md (--results), leaving the rest
of the file as it is; a full run given --keep RESULTS.md carries that section and row over.

With --json-typed, writes instead the section "JSON serializer: typed path against the document
path" and its target row into an existing RESULTS.md (--results), from a serializers_bench
output (--input: --benchmark_format=json or --benchmark_out) and the command that wrote it
(--command), as benchmarks/serializers.sh does. A full run writes that section from its own
serializers_bench output, or, when that has no `*_typed` benchmarks, keeps the one of --keep.
"""

import argparse
import csv
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from datetime import datetime, timezone

med = statistics.median


def load_json(path):
    with open(path) as f:
        return json.load(f)


def fmt_rate(x):
    if x != x:
        return "n/a"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M/s"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k/s"
    return f"{x:.0f} /s"


def fmt_ns(ns):
    if ns != ns:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.0f} ns"


def verdict(ok):
    return "met" if ok else "**missed**"


def target_row(area, what, measured, ok, note=""):
    return f"| {area} | {what} | {measured}{' (' + note + ')' if note else ''} | {verdict(ok)} |"


TARGETS_HEAD = "| area | target | measured | verdict |"


# ---- Google Benchmark JSON ------------------------------------------------------------------


class GBench:
    """Medians of one binary's output (aggregates when there were repetitions)."""

    def __init__(self, path):
        self.ok = os.path.exists(path) and os.path.getsize(path) > 0
        self.rows = {}
        self.means = {}  # the mean aggregates, for counts that must be zero in every repetition
        self.context = {}
        if not self.ok:
            return
        data = load_json(path)
        self.context = data.get("context", {})
        singles = {}
        for b in data["benchmarks"]:
            name = b.get("run_name", b["name"])
            if b.get("run_type") == "aggregate":
                if b.get("aggregate_name") == "median":
                    self.rows[name] = b
                elif b.get("aggregate_name") == "mean":
                    self.means[name] = b
            else:
                singles.setdefault(name, b)
        for name, b in singles.items():
            self.rows.setdefault(name, b)
            self.means.setdefault(name, b)

    def find(self, func, *parts, rows=None):
        """The row of benchmark `func` whose name has every one of `parts` as a component."""
        for name, b in (self.rows if rows is None else rows).items():
            comps = name.split("/")
            if comps[0] == func and all(p in comps for p in parts):
                return b
        return None

    def mean(self, func, field, *parts):
        """The mean over the repetitions (a count that is 0 in every repetition has mean 0)."""
        b = self.find(func, *parts, rows=self.means)
        if b is None or field not in b:
            return float("nan")
        return float(b[field])

    def value(self, func, field, *parts):
        b = self.find(func, *parts)
        if b is None or field not in b:
            return float("nan")
        v = float(b[field])
        if field in ("real_time", "cpu_time"):
            unit = b.get("time_unit", "ns")
            v *= {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
        return v


# ---- the asiocache-bench sweep ---------------------------------------------------------------


def sweep_points(runs):
    """{(url_index, concurrency): {"asiocache": [result...], "baseline": [result...]}}"""
    points = {}
    urls = None
    for doc in runs:
        urls = urls or doc["urls"]
        for r in doc["results"]:
            u = doc["urls"].index(r["url"])
            p = points.setdefault((u, r["concurrency"]), {"asiocache": [], "baseline": []})
            for side in ("asiocache", "baseline"):
                if side in r and r[side].get("ok", True) and r[side].get("operations", 0) > 0:
                    p[side].append(r[side])
    return urls, points


def url_kind(url):
    return url.split(":", 1)[0]


def missed_line(missed, total):
    return (f"{missed} of {total} targets missed in this run; "
            "[PROFILES.md](PROFILES.md) shows where the time goes for each.")


# ---- sections written by their own scripts, kept by a full run -----------------------------


def kept_section(text, begin, end, area):
    """A marker-protected section of a RESULTS.md (its lines, markers included) and the target
    rows of its area."""
    lines = text.split("\n")
    block = []
    if begin in lines and end in lines:
        block = lines[lines.index(begin):lines.index(end) + 1]
    rows = [line for line in lines if line.startswith(f"| {area} |")]
    return block, rows


def splice_section(text, begin, end, area, block, rows, place):
    """`text` with its section between the markers `begin` and `end` and its target rows of
    `area` replaced by `block` and `rows`: the rows where the old ones were in the Targets
    table, or at its end (its count of missed targets updated); the section where
    `place(lines, block)` puts it."""
    lines = text.split("\n")
    if begin in lines and end in lines:
        b, e = lines.index(begin), lines.index(end)
        del lines[b:e + 2 if e + 1 < len(lines) and not lines[e + 1] else e + 1]
    old = [i for i, line in enumerate(lines) if line.startswith(f"| {area} |")]
    lines = [line for line in lines if not line.startswith(f"| {area} |")]
    if TARGETS_HEAD in lines:
        head = lines.index(TARGETS_HEAD)
        stop = head + 2
        while stop < len(lines) and lines[stop].startswith("|"):
            stop += 1
        at = old[0] if old and head + 2 <= old[0] <= stop else stop
        lines[at:at] = rows
        stop += len(rows)
        table = lines[head + 2:stop]
        missed = sum("**missed**" in line for line in table)
        counted = [i for i, line in enumerate(lines)
                   if re.match(r"^\d+ of \d+ targets missed", line)]
        for i in reversed(counted):
            del lines[i:i + 2 if i + 1 < len(lines) and not lines[i + 1] else i + 1]
        if missed:
            lines[stop + 1:stop + 1] = [missed_line(missed, len(table)), ""]
    if block:
        place(lines, block)
    return "\n".join(lines)


OTHER_MARKER = re.compile(r"^<!-- ([a-z0-9-]+): written by .*kept by run_all\.sh -->$")


def kept_others(text):
    """Every other section a script of its own writes between `<!-- NAME: written by ...,
    kept by run_all.sh -->` and `<!-- /NAME -->`, with the target rows of area NAME: a list of
    (name, block, rows), in the order of the file. A full run keeps them as they are."""
    out = []
    lines = text.split("\n")
    for line in lines:
        m = OTHER_MARKER.match(line)
        if not m or m.group(1) in (CLUSTER_AREA, "json-typed"):
            continue
        name = m.group(1)
        block, rows = kept_section(text, line, f"<!-- /{name} -->", name)
        if block:
            out.append((name, block, rows))
    return out


# ---- the Redis Cluster section (benchmarks/redis_cluster.sh) ---------------------------------

CLUSTER_BEGIN = "<!-- redis-cluster: written by benchmarks/redis_cluster.sh, kept by run_all.sh -->"
CLUSTER_END = "<!-- /redis-cluster -->"
CLUSTER_AREA = "redis-cluster"


def kept_cluster(text):
    """The Redis Cluster section (its lines, markers included) and target rows of a RESULTS.md."""
    return kept_section(text, CLUSTER_BEGIN, CLUSTER_END, CLUSTER_AREA)


def splice_cluster(text, block, rows):
    """`text` with its Redis Cluster section and target rows replaced by `block` and `rows`:
    the section before the memory backend's."""
    def place(lines, block):
        at = next((i for i, line in enumerate(lines) if line.startswith("## Memory backend")),
                  len(lines))
        lines[at:at] = block + [""]
    return splice_section(text, CLUSTER_BEGIN, CLUSTER_END, CLUSTER_AREA, block, rows, place)


def cluster_figures(raw, runs, duration, warmup):
    """The section and target rows from redis_cluster.sh's outputs in `raw`."""
    docs = [load_json(p) for p in sorted(glob.glob(f"{raw}/sweep_*.json"))]
    meta = load_json(f"{raw}/meta.json")
    if not docs:
        raise SystemExit(f"make_results.py: no sweep_*.json in {raw}")
    urls = docs[0]["urls"]
    single = next(u for u in urls if url_kind(u) == "redis")
    cluster = next(u for u in urls if url_kind(u) == "redis-cluster")

    def runs_of(url, c, side):
        """One result a run (None where it did not run), so that ratios pair within a run."""
        out = []
        for doc in docs:
            r = next((r for r in doc["results"] if r["url"] == url and r["concurrency"] == c),
                     None)
            x = r.get(side) if r else None
            out.append(x if x and x.get("ok", True) and x.get("operations", 0) > 0 else None)
        return out

    def median_of(results, f):
        vals = [f(x) for x in results if x]
        return med(vals) if vals else float("nan")

    def paired(xs, ys, f):
        vals = [f(x) / f(y) for x, y in zip(xs, ys) if x and y and f(y) > 0]
        return med(vals) if vals else float("nan")

    def rate(x):
        return x["throughput"]

    def cpu(x):
        return 1e3 * x["cpu_per_op_us"]

    def cpu_split(results):
        """CPU per operation, user + system, in ns."""
        def part(field):
            return median_of(results, lambda x: 1e9 * x[field] / x["operations"])
        return (f"{median_of(results, cpu):.0f} ns ({part('cpu_user_seconds'):.0f} + "
                f"{part('cpu_system_seconds'):.0f})")

    def lat(results):
        return (f"{fmt_ns(median_of(results, lambda x: x['latency_ns']['p50']))} / "
                f"{fmt_ns(median_of(results, lambda x: x['latency_ns']['p99']))}")

    wl = docs[0]["workload"]
    sweep = docs[0]["sweep"]
    sec = []
    s = sec.append
    s(CLUSTER_BEGIN)
    s("## Redis Cluster: 3 masters against one server (`asiocache bench`)")
    s("")
    when = datetime.fromtimestamp(max(os.path.getmtime(p) for p in glob.glob(f"{raw}/sweep_*.json")),
                                  timezone.utc)
    s(f"Written by `bash benchmarks/redis_cluster.sh` ({when.strftime('%Y-%m-%d %H:%M UTC')}; "
      "`run_all.sh` keeps this section as it is). A Redis Cluster of "
      f"{meta['nodes']} redis-server nodes ({len(meta['masters'])} masters, one replica each) "
      f"and a single redis-server, {meta['redis_version']}, on 127.0.0.1 of this "
      f"{os.cpu_count()}-core machine, no persistence. Each of the {len(docs)} runs is one "
      f"invocation, `{meta['command']}`, so the single server and the cluster meet the same "
      f"machine load: {duration} per point after {warmup} warm-up; medians over the runs, "
      "ratios the medians of the per-run ratios. Workload: "
      f"mix `{wl['mix']}`, {wl['key_count']} keys of {wl['key_size']} B ({wl['distribution']}), "
      f"values {wl['value_size_min']} B, serializer `{wl['serializer']}`, {wl['threads']} "
      "thread(s). Baselines: raw hiredis pipelined on one connection for `redis://`; for "
      "`redis-cluster://` raw hiredis that already knows the slots: CLUSTER SLOTS read once, "
      "one connection per master, each command appended to its key's master "
      "(`redis_cluster_key_slot`), every connection written, then the replies read in order.")
    s("")
    s("| concurrency | client | `redis://` | p50 / p99 | `redis-cluster://` | p50 / p99 | "
      "cluster / single |")
    s("|---:|---|---:|---:|---:|---:|---:|")
    cpu_rows = []
    verdict_parts = []
    raw_parts = []
    ok = True
    for c in sweep:
        sides = {}
        for side, label in (("asiocache", "asiocache"), ("baseline", "raw hiredis")):
            a, b = runs_of(single, c, side), runs_of(cluster, c, side)
            sides[side] = (a, b)
            s(f"| {c} | {label} | {fmt_rate(median_of(a, rate))} | {lat(a)} | "
              f"{fmt_rate(median_of(b, rate))} | {lat(b)} | {100 * paired(b, a, rate):.0f}% |")
            ratio = paired(b, a, cpu)
            cpu_rows.append(f"| {c} | {label} | {cpu_split(a)} | {cpu_split(b)} | "
                            f"{ratio:.2f}x |")
            if side == "asiocache":
                verdict_parts.append(f"c={c}: {ratio:.2f}x")
                ok = ok and ratio <= 1.10
            else:
                raw_parts.append(f"c={c}: {ratio:.2f}x")
        (sa, ca), (sb, cb) = sides["asiocache"], sides["baseline"]
        s(f"| {c} | asiocache / raw | {100 * paired(sa, sb, rate):.0f}% | | "
          f"{100 * paired(ca, cb, rate):.0f}% | | |")
    s("")
    s("Client CPU per operation: user + system time of the bench process over the measured "
      "window (getrusage), divided by the operations (medians: the parts need not add up to "
      "the total); the last column is the routing overhead, the cluster's CPU per operation "
      "over the single server's in the same run.")
    s("")
    s("| concurrency | client | `redis://` | `redis-cluster://` | cluster / single |")
    s("|---:|---|---:|---:|---:|")
    sec.extend(cpu_rows)
    s("")
    keys = ", ".join(f"{m['dbsize']} on :{m['port']}" for m in meta["masters"])
    s(f"Keys on each master after the runs: {keys} (the single server: "
      f"{meta['single_dbsize']}).")
    s("")
    s("**Limits.** The machine has 2 cores: the 6 redis-server processes of the cluster (3 "
      "masters serving, 3 replicas applying the writes), the single server and the client "
      "share them, so the cluster cannot be faster here than one server: it measures what "
      "routing costs the client, not what sharding buys. Its throughput is bounded by the "
      "client's CPU and by the servers' share of the cores. The CPU per operation that the "
      "cluster adds is not all routing: at equal concurrency each of the 3 connections carries "
      "a third of the commands, so each write and read system call moves fewer of them, and "
      "7 busy processes on 2 cores preempt the client and cool its caches, so the same "
      "instructions take longer. The raw client routed by slot pays both too (its row "
      "above). [PROFILES.md](PROFILES.md) splits the figure, with callgrind's instruction "
      "counts for the routing code itself.")
    s(CLUSTER_END)
    rows = [target_row(CLUSTER_AREA, "routing adds at most 10% CPU per operation over "
                       "`redis://` at the same concurrency", ", ".join(verdict_parts), ok,
                       "raw hiredis routed by slot: " + ", ".join(raw_parts))]
    return sec, rows


def cluster_main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--cluster", action="store_true")
    ap.add_argument("--raw", required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--duration", required=True)
    ap.add_argument("--warmup", required=True)
    ap.add_argument("--results", required=True)
    a = ap.parse_args(argv)
    block, rows = cluster_figures(a.raw, a.runs, a.duration, a.warmup)
    with open(a.results) as f:
        text = f.read()
    text = splice_cluster(text, block, rows)
    with open(a.results + ".new", "w") as f:
        f.write(text)
    os.replace(a.results + ".new", a.results)


# ---- the JSON typed path against the document path (serializers_bench `*_typed`) -----------

JSON_BEGIN = ("<!-- json-typed: written by benchmarks/serializers.sh and by run_all.sh, kept by "
              "run_all.sh -->")
JSON_END = "<!-- /json-typed -->"
JSON_AREA = "serializers"
# (benchmark stem, payload): `<direction>_<stem>_typed/0` is the typed path, `/1` the document.
JSON_PAYLOADS = (("thread", "thread of 5 messages"), ("text", "100-byte string"))


def kept_json(text):
    """The JSON typed-path section (its lines, markers included) and target row of a RESULTS.md."""
    return kept_section(text, JSON_BEGIN, JSON_END, JSON_AREA)


def splice_json(text, block, rows):
    """`text` with its JSON typed-path section and target row replaced by `block` and `rows`:
    the section right after the serializers' one (or at the end)."""
    def place(lines, block):
        head = next((i for i, line in enumerate(lines)
                     if line.startswith("## Serializers and keys")), None)
        at = len(lines)
        if head is not None:
            at = next((i for i in range(head + 1, len(lines))
                       if lines[i].startswith("## ") or lines[i].startswith("<!-- ")), len(lines))
        while at > 0 and not lines[at - 1]:
            at -= 1
        lines[at:at] = [""] + block
    return splice_section(text, JSON_BEGIN, JSON_END, JSON_AREA, block, rows, place)


def gbench_date(g, path):
    """When the benchmark ran: its context's date, else the file's time, in UTC."""
    try:
        when = datetime.fromisoformat(g.context["date"]).astimezone(timezone.utc)
    except (KeyError, ValueError):
        when = datetime.fromtimestamp(os.path.getmtime(path), timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def json_typed_figures(g, path, command):
    """The section and target row from a serializers_bench output `g` (read from `path`), run
    as `command`; None when it has no `*_typed` benchmarks."""
    if g.find("encode_thread_typed", "0") is None:
        return None
    table = []
    ratios = {}
    reps = set()
    for stem, payload in JSON_PAYLOADS:
        for direction in ("encode", "decode"):
            func = f"{direction}_{stem}_typed"
            typed = g.value(func, "real_time", "0")
            doc = g.value(func, "real_time", "1")
            # A rate counter is per CPU second (the benchmarks do not use real time).
            size = g.value(func, "bytes_per_second", "0") * g.value(func, "cpu_time", "0") / 1e9
            ratio = doc / typed
            ratios[(stem, direction)] = ratio
            for variant in ("0", "1"):
                b = g.find(func, variant)
                reps.add(int(b.get("repetitions", 1)) if b else 0)
            table.append(f"| {payload} | {direction} | {size:.0f} B | {doc:.0f} ns | "
                         f"{typed:.0f} ns | {ratio:.1f}x |")
    worst = float("nan") if any(r != r for r in ratios.values()) else min(ratios.values())
    ok = worst >= 5.0  # NaN (a benchmark missing) is a miss
    nreps = " or ".join(str(r) for r in sorted(reps))
    nreps += " repetition" if reps == {1} else " repetitions"
    sec = []
    s = sec.append
    s(JSON_BEGIN)
    s("## JSON serializer: typed path against the document path (micro-benchmark)")
    s("")
    s("`benchmarks/serializers_keys.cpp`, the `*_typed` benchmarks: the built-in JSON "
      "serializer's typed path (`/0`; see "
      "`serializers/include/asiocache/detail/typed_json.hpp`), which writes a value straight "
      "into a string and reads it from Boost.JSON's SAX parser, against the document path "
      "(`/1`): the same serializer behind a user serializer that forwards to it, so that the "
      "value goes through a `nlohmann::json` document as every value did before. Both encode "
      "and decode the same values in the same run: the thread of five chat messages as a "
      "Boost.Describe struct, and a 100-byte string. Times per operation are medians over "
      f"{nreps} (real time, one thread); the ratio is the document path's median "
      "over the typed path's. Both paths write the same bytes: `typed_json_test` compares them "
      "on generated values, texts and numbers in every CI run.")
    s("")
    s("| payload | direction | JSON | document path | typed path | document / typed |")
    s("|---|---|---:|---:|---:|---:|")
    sec.extend(table)
    s("")
    load = g.context.get("load_avg")
    load_note = (f", load average at the start {' / '.join(f'{x:.1f}' for x in load)} "
                 "(1/5/15 min)" if load else "")
    s(f"Run {gbench_date(g, path)} on {g.context.get('num_cpus', '?')} cores{load_note}: "
      f"`{command}`. `bash benchmarks/serializers.sh` rewrites this section and its target row "
      "alone; `run_all.sh` rewrites them from its own run of `serializers_bench`.")
    s("")
    enc = g.value("encode_structured", "real_time", "0")
    dec = g.value("decode_structured", "real_time", "0")
    if enc == enc and dec == dec:
        s("The same thread as a struct with nlohmann `to_json`/`from_json` hooks "
          "(`encode_structured/0`, `decode_structured/0`, same run) keeps the document path, "
          f"as those hooks take precedence: {fmt_ns(enc)} to encode, {fmt_ns(dec)} to decode.")
        s("")
    s("**Limits.** The serializer alone, in one process on one thread: a cache operation also "
      "pays its backend and the facade (`cache_get_json` in the memory backend's section). "
      "Other work on the machine's cores slows both paths alike within the run; the ratios "
      "hold better than the absolute times.")
    s(JSON_END)
    measured = (f"{worst:.1f}x (thread encode {ratios[('thread', 'encode')]:.1f}x, decode "
                f"{ratios[('thread', 'decode')]:.1f}x; 100-byte string encode "
                f"{ratios[('text', 'encode')]:.1f}x, decode {ratios[('text', 'decode')]:.1f}x; "
                "the same bytes: `typed_json_test`)")
    rows = [target_row(JSON_AREA, "JSON encode and decode at least 5x faster than the "
                       "document path, byte-identical (serializers_bench `*_typed`)", measured, ok)]
    return sec, rows


def json_typed_main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--json-typed", action="store_true")
    ap.add_argument("--input", required=True,
                    help="serializers_bench's output, from --benchmark_format=json or "
                         "--benchmark_out")
    ap.add_argument("--command", required=True, help="the command that wrote it, as shown")
    ap.add_argument("--results", required=True)
    a = ap.parse_args(argv)
    g = GBench(a.input)
    figures = json_typed_figures(g, a.input, a.command) if g.ok else None
    if figures is None:
        raise SystemExit(f"make_results.py: no *_typed benchmarks in {a.input}")
    with open(a.results) as f:
        text = f.read()
    text = splice_json(text, *figures)
    with open(a.results + ".new", "w") as f:
        f.write(text)
    os.replace(a.results + ".new", a.results)


def main():
    if "--cluster" in sys.argv[1:]:
        return cluster_main(sys.argv[1:])
    if "--json-typed" in sys.argv[1:]:
        return json_typed_main(sys.argv[1:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--reps", type=int, required=True)
    ap.add_argument("--duration", required=True)
    ap.add_argument("--warmup", required=True)
    ap.add_argument("--report-out", required=True)
    ap.add_argument("--keep", help="an earlier RESULTS.md whose Redis Cluster section (and "
                    "JSON typed-path section, when this run has no `*_typed` benchmarks) to keep")
    a = ap.parse_args()
    raw = a.raw
    out = []
    w = out.append

    # ---- inputs
    sweeps = [load_json(p) for p in sorted(glob.glob(f"{raw}/sweep_*.json"))]
    urls, points = sweep_points(sweeps)
    memory = GBench(f"{raw}/memory.json")
    memo = GBench(f"{raw}/memo.json")
    sers = GBench(f"{raw}/serializers.json")
    mc = GBench(f"{raw}/memcached.json")
    rbench = [GBench(p) for p in sorted(glob.glob(f"{raw}/redis_bench_*.json"))]
    python = []
    for p in sorted(glob.glob(f"{raw}/python_*.jsonl")):
        with open(p) as f:
            python += [json.loads(line) for line in f if line.strip()]

    def rb_csv(kind, test, field):
        vals = []
        for p in sorted(glob.glob(f"{raw}/redis_benchmark_{kind}_*.csv")):
            with open(p) as f:
                for row in csv.DictReader(f):
                    if row["test"] == test:
                        vals.append(float(row[field]))
        return med(vals) if vals else float("nan")

    def rbv(func, field, *parts):
        vals = [g.value(func, field, *parts) for g in rbench]
        vals = [v for v in vals if v == v]
        return med(vals) if vals else float("nan")

    def py_rate(kind, c):
        vals = [r["throughput"] for r in python if r["kind"] == kind and r["concurrency"] == c]
        return med(vals) if vals else float("nan")

    # The median run (by total asiocache throughput) gives the charts.
    totals = []
    for i, doc in enumerate(sweeps):
        t = sum(r["asiocache"].get("throughput", 0) for r in doc["results"] if "asiocache" in r)
        totals.append((t, i))
    chosen = sorted(totals)[len(totals) // 2][1] if totals else None
    if chosen is not None:
        src = f"{raw}/report_{chosen + 1}"
        os.makedirs(a.report_out, exist_ok=True)
        for f in os.listdir(src):
            shutil.copy(os.path.join(src, f), os.path.join(a.report_out, f))

    # ---- header
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    load = os.getloadavg()
    w("# Benchmark results")
    w("")
    w("Generated by `bash benchmarks/run_all.sh` (see its header for the knobs); do not edit by "
      "hand. Raw outputs: `results/` in the build tree (not committed). Explanations of the gaps, with the "
      "profiles behind them: [PROFILES.md](PROFILES.md).")
    w("")
    w(f"- Run: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, {os.cpu_count()} "
      f"cores ({cpu}), load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
      f"(1/5/15 min).")
    w(f"- Release build (g++ {version(['g++', '-dumpfullversion'])}, -O3). "
      f"{version(['redis-server', '--version']).split(' sha=')[0]}; "
      f"memcached {version(['memcached', '-V']).replace('memcached ', '')}; both on 127.0.0.1, "
      f"started by the script, no persistence.")
    w(f"- Medians: {a.runs} runs of each sweep point ({a.duration} after {a.warmup} warm-up), "
      f"of redis-benchmark and `redis_bench`; {a.reps} repetitions of each micro-benchmark. "
      "Ratios are taken within one run, so both sides meet the same machine load.")
    w("")

    # ---- verdicts, gathered as sections compute them
    verdicts = []

    def target(area, what, measured, ok, note=""):
        verdicts.append((area, what, measured, ok, note))

    # ---- memory
    sec_memory = []
    s = sec_memory.append
    mg = memory.value("map_get", "real_time", "threads:1")
    cg = memory.value("cache_get_bytes", "real_time", "threads:1")
    tg = memory.value("backend_try_get", "real_time", "threads:1")
    cgl = memory.value("cache_get_bytes_lru", "real_time", "threads:1")
    cgj = memory.value("cache_get_json", "real_time", "threads:1")
    cgm = memory.value("cache_get_bytes_metrics", "real_time", "threads:1")
    cgt = memory.value("cache_get_bytes_timing", "real_time", "threads:1")
    ms = memory.value("map_set", "real_time", "threads:1")
    cs = memory.value("cache_set_bytes", "real_time", "threads:1")
    s("## Memory backend (micro-benchmark)")
    s("")
    s("`benchmarks/memory_vs_unordered_map.cpp`: 10k keys of 16 bytes, 100-byte values, every "
      "lookup a hit; baseline one `std::mutex` around a `std::unordered_map<std::string, "
      "std::string>`, copying the value out. One coroutine runs each thread's whole loop.")
    s("")
    s("| benchmark (1 thread) | time per op | ratio to its map baseline |")
    s("|---|---:|---:|")
    for label, v, base in (
            ("`map_get`: mutex + unordered_map, copy out (baseline)", mg, mg),
            ("`backend_try_get`: the store's synchronous lookup alone", tg, mg),
            ("`cache_get_bytes`: `co_await cache.get<std::string>(k)`", cg, mg),
            ("`cache_get_bytes_metrics`: the same with the metrics plugin", cgm, mg),
            ("`cache_get_bytes_timing`: the same with the timing plugin (information)", cgt, mg),
            ("`cache_get_bytes_lru`: the same on a bounded (LRU) store", cgl, mg),
            ("`cache_get_json`: the same get, JSON serializer (information)", cgj, mg),
            ("`map_set`: mutex + `insert_or_assign` (baseline)", ms, ms),
            ("`cache_set_bytes`: `co_await cache.set(k, v)`", cs, ms)):
        s(f"| {label} | {fmt_ns(v)} | {v / base:.2f}x |")
    s("")
    r1 = memory.value("cache_get_bytes", "items_per_second", "threads:1")
    r2 = memory.value("cache_get_bytes", "items_per_second", "threads:2")
    m1 = memory.value("map_get", "items_per_second", "threads:1")
    m2 = memory.value("map_get", "items_per_second", "threads:2")
    s(f"Two threads against one (`items_per_second`): facade get {r2 / r1:.2f}x, map get "
      f"{m2 / m1:.2f}x.")
    s("")
    fr = memory.value("facade_get_paired", "ratio")
    fm = memory.value("facade_get_paired", "map_ns")
    ff = memory.value("facade_get_paired", "facade_ns")
    s(f"The facade get against the map, paired (`facade_get_paired`: blocks of 256 map lookups "
      f"and 256 facade gets of the same keys, alternately, medians of the per-pair ratios): "
      f"{fr:.2f}x ({ff:.0f} ns against {fm:.0f} ns). The unpaired medians above give "
      f"{cg / mg:.2f}x; on this shared machine they can fall in different slow or fast phases, "
      f"which a pair cannot.")
    s("")
    target("memory", "facade get hit within 1.5x a mutex-guarded unordered_map lookup",
           f"{fr:.2f}x paired ({ff:.0f} ns against {fm:.0f} ns; unpaired medians {cg / mg:.2f}x)",
           fr <= 1.5)
    pc = memory.value("metrics_plugin_cost", "cost_ns")
    pp = memory.value("metrics_plugin_cost", "plain_ns")
    pm = memory.value("metrics_plugin_cost", "metrics_ns")
    s(f"The metrics plugin's cost, paired (`metrics_plugin_cost`: blocks of 256 gets without and "
      f"with it, alternately, medians of the per-get differences): {pc:.0f} ns per get "
      f"({pm:.0f} ns against {pp:.0f} ns), the two timestamps any timing plugin needs included.")
    s("")
    target("metrics", "metrics plugin costs at most 30 ns on a memory get",
           f"{pc:.0f} ns ({pm:.0f} ns against {pp:.0f} ns, paired)", pc <= 30.0,
           "the two timestamps any timing plugin needs included")
    target("memory", "2 threads scale to 1.7x one thread", f"{r2 / r1:.2f}x", r2 / r1 >= 1.7,
           f"the map itself scales {m2 / m1:.2f}x on this machine")
    overhead = memory.value("memory_entry_bytes", "overhead_bytes")
    charged = memory.value("memory_entry_bytes", "charged_bytes")
    map_overhead = memory.value("memory_entry_bytes", "map_overhead_bytes")
    redis_usage = float("nan")
    try:
        with open(f"{raw}/redis_memory_usage.txt") as f:
            redis_usage = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    redis_overhead = redis_usage - 16 - 100
    s(f"Per-entry memory beyond key and value (16 + 100 bytes): the memory backend "
      f"{overhead:.0f} bytes (heap measured with `mallinfo2` over 100k entries set through the "
      f"facade), of which it charges {charged:.0f} to `max_bytes` (`memory_entry_charge`: the "
      f"entry's block as malloc rounds it and one bucket slot; the table holds one to two "
      f"slots per entry); the baseline map {map_overhead:.0f} bytes for the same entries; "
      f"Redis {redis_overhead:.0f} bytes (`MEMORY USAGE` of the same key, "
      f"{redis_usage:.0f} bytes, less key and value).")
    s("")
    target("memory", "per-entry overhead at most 100 bytes beyond key and value",
           f"{overhead:.0f} B (charged {charged:.0f} B; Redis {redis_overhead:.0f} B)",
           overhead <= 100)

    # ---- sweep
    sec_sweep = []
    s = sec_sweep.append
    s("## Every backend at concurrency 1, 64 and 512 (`asiocache bench`)")
    s("")
    if sweeps:
        wl = sweeps[0]["workload"]
        s(f"Workload: mix `{wl['mix']}`, {wl['key_count']} keys of {wl['key_size']} B "
          f"({wl['distribution']}), values {wl['value_size_min']} B, serializer "
          f"`{wl['serializer']}`, {wl['threads']} thread(s), one connection per client. "
          "Baselines, in the same run on the same servers: `std::unordered_map` + mutex, raw "
          "hiredis pipelined on one connection (as many commands per batch as the concurrency), "
          "raw libmemcached synchronous on one connection (one call at a time, whatever the "
          "concurrency). Medians per point; the charts show the median run "
          f"(run {chosen + 1}): [throughput](report/throughput.png), "
          "[latency](report/latency.png).")
        s("")
        s("| backend | concurrency | asiocache | raw client | asiocache / raw | asiocache p50 / "
          "p99 | raw p50 / p99 |")
        s("|---|---:|---:|---:|---:|---:|---:|")
        for u, url in enumerate(urls):
            for c in sweeps[0]["sweep"]:
                p = points.get((u, c))
                if not p or not p["asiocache"]:
                    s(f"| `{url_kind(url)}` | {c} | did not run | | | | |")
                    continue
                t = med(r["throughput"] for r in p["asiocache"])
                tp50 = med(r["latency_ns"]["p50"] for r in p["asiocache"])
                tp99 = med(r["latency_ns"]["p99"] for r in p["asiocache"])
                if p["baseline"]:
                    b = med(r["throughput"] for r in p["baseline"])
                    bp50 = med(r["latency_ns"]["p50"] for r in p["baseline"])
                    bp99 = med(r["latency_ns"]["p99"] for r in p["baseline"])
                    ratio = med(x["throughput"] / y["throughput"]
                                for x, y in zip(p["asiocache"], p["baseline"]))
                    s(f"| `{url_kind(url)}` | {c} | {fmt_rate(t)} | {fmt_rate(b)} | "
                      f"{ratio * 100:.0f}% | {fmt_ns(tp50)} / {fmt_ns(tp99)} | "
                      f"{fmt_ns(bp50)} / {fmt_ns(bp99)} |")
                else:
                    s(f"| `{url_kind(url)}` | {c} | {fmt_rate(t)} | n/a | | "
                      f"{fmt_ns(tp50)} / {fmt_ns(tp99)} | |")
        s("")
        s("The ratio is the median of the per-run ratios. The memory baseline is a bare map on "
          "the worker thread, with no coroutine and no await: the gap at high concurrency is "
          "the price of the asynchronous interface, measured more closely by the "
          "micro-benchmark above. The memcached baseline cannot use concurrency at all (one "
          "blocking call at a time), so at 64 and 512 the ratio shows what the asynchronous "
          "backend's pipelining of gets buys.")
        s("")
    try:
        noop = load_json(f"{raw}/generator_noop.json")["results"][0]["asiocache"]
        get = load_json(f"{raw}/generator_get.json")["results"][0]["asiocache"]
        n_cpu, g_cpu = 1e3 * noop["cpu_per_op_us"], 1e3 * get["cpu_per_op_us"]
        s(f"**The load generator's own cost** (one thread, concurrency 64): a no-op operation "
          f"costs {n_cpu:.0f} ns of CPU against {g_cpu:.0f} ns for a memory `get` hit, so the "
          f"generator is {100 * n_cpu / g_cpu:.0f}% of the cheapest operation it measures and "
          "is not the bottleneck.")
        s("")
    except (OSError, KeyError, IndexError):
        pass

    # ---- redis
    sec_redis = []
    s = sec_redis.append
    s("## Redis")
    s("")
    s("`benchmarks/redis_bench.cpp` (asiocache's Redis backend on one connection, and raw "
      "hiredis in the same process) and `redis-benchmark` (`-c 50`, `-P 1` and `-P 16`, GET and "
      "SET, 100-byte values), interleaved, on the same server.")
    s("")
    s("| client | op | ops/s | p50 | p99 |")
    s("|---|---|---:|---:|---:|")
    for op in ("GET", "SET"):
        for kind, label in (("p1", "redis-benchmark -c 50 -P 1"), ("p16", "redis-benchmark -c 50 -P 16")):
            s(f"| {label} | {op} | {fmt_rate(rb_csv(kind, op, 'rps'))} | "
              f"{fmt_ns(rb_csv(kind, op, 'p50_latency_ms') * 1e6)} | "
              f"{fmt_ns(rb_csv(kind, op, 'p99_latency_ms') * 1e6)} |")
    rows = [("raw hiredis, synchronous", "bm_hiredis_sync", ()),
            ("raw hiredis, pipelined x16 (latency per batch)", "bm_hiredis_pipelined16", ()),
            ("asiocache, concurrency 1", "bm_asiocache<false>", ("c:1",)),
            ("asiocache, concurrency 64", "bm_asiocache<false>", ("c:64",)),
            ("asiocache, concurrency 512", "bm_asiocache<false>", ("c:512",)),
            ("asiocache facade (JSON off), concurrency 64", "bm_asiocache_facade", ("c:64",))]
    for op, code in (("GET", "set:0"), ("SET", "set:1")):
        for label, func, parts in rows:
            v = rbv(func, "items_per_second", code, *parts)
            if v != v:
                continue
            s(f"| {label} | {op} | {fmt_rate(v)} | {fmt_ns(rbv(func, 'p50_us', code, *parts) * 1e3)}"
              f" | {fmt_ns(rbv(func, 'p99_us', code, *parts) * 1e3)} |")
    s("")
    for op, code in (("GET", "set:0"), ("SET", "set:1")):
        c64 = rbv("bm_asiocache<false>", "items_per_second", code, "c:64")
        c512 = rbv("bm_asiocache<false>", "items_per_second", code, "c:512")
        p1, p16 = rb_csv("p1", op, "rps"), rb_csv("p16", op, "rps")
        lat1 = rbv("bm_asiocache<false>", "p50_us", code, "c:1")
        lat0 = rbv("bm_hiredis_sync", "p50_us", code)
        target("redis", f"{op}: 64 coroutines on one connection >= redis-benchmark -c 50 -P 1",
               f"{c64 / p1:.1f}x", c64 / p1 >= 1.0)
        target("redis", f"{op}: concurrency 512 >= 60% of redis-benchmark -P 16",
               f"{100 * c512 / p16:.0f}%", c512 / p16 >= 0.6)
        target("redis", f"{op}: concurrency 1 p50 latency <= 1.2x raw synchronous hiredis",
               f"{lat1 / lat0:.2f}x", lat1 / lat0 <= 1.2)
    py64 = py_rate("redis", 64)
    ours64 = rbv("bm_asiocache<false>", "items_per_second", "set:0", "c:64")
    target("redis", "GET at concurrency 64 >= 20x Python aiocache on the same server",
           f"{ours64 / py64:.0f}x redis.asyncio (an upper bound on aiocache)", ours64 / py64 >= 20,
           "aiocache is not installable here; see the Python section")

    # ---- memcached
    sec_mc = []
    s = sec_mc.append

    def mcv(func, field, *parts):
        return mc.value(func, field, *parts)

    s("## Memcached")
    s("")
    s("`benchmarks/memcached_bench.cpp`: 16-byte keys, 100-byte values, its own memcached "
      "(`-t 1`, so that the raw and the backend connection meet the same server thread; "
      "otherwise memcached's defaults, among them `-R 20` requests per connection per event). "
      "The backend is the Asio meta-protocol client on one pipelined connection, "
      "driven by `concurrency` coroutines on one thread. Baseline: raw synchronous "
      "libmemcached, text protocol, one handle, one connection. Every comparison is paired: "
      "blocks of raw and backend operations alternate inside one benchmark, so both meet the "
      "same load; the ratio is backend throughput over raw.")
    s("")
    s("| op | concurrency | raw ops/s | backend ops/s | ratio | raw p50 / p99 | "
      "backend p50 / p99 | p50 ratio |")
    s("|---|---:|---:|---:|---:|---:|---:|---:|")
    for op in ("get", "set"):
        for c in ("1", "8", "64"):
            f = "paired_" + op
            s(f"| {op} | {c} | {fmt_rate(mcv(f, 'raw_ops_s', c))} | "
              f"{fmt_rate(mcv(f, 'backend_ops_s', c))} | {mcv(f, 'ratio', c):.2f}x | "
              f"{fmt_ns(mcv(f, 'raw_p50_us', c) * 1e3)} / {fmt_ns(mcv(f, 'raw_p99_us', c) * 1e3)} | "
              f"{fmt_ns(mcv(f, 'p50_us', c) * 1e3)} / {fmt_ns(mcv(f, 'p99_us', c) * 1e3)} | "
              f"{mcv(f, 'p50_ratio', c):.2f}x |")
    s("")
    mg_raw = mcv("paired_multi_get_100", "raw_keys_s")
    mg_ours = mcv("paired_multi_get_100", "backend_keys_s")
    mg_ratio = mcv("paired_multi_get_100", "ratio")
    ms_raw = mcv("paired_multi_set_100", "raw_items_s")
    ms_ours = mcv("paired_multi_set_100", "backend_items_s")
    ms_single = mcv("paired_multi_set_100", "backend_single_items_s")
    ms_ratio = mcv("paired_multi_set_100", "ratio")
    ms_ratio_own = mcv("paired_multi_set_100", "ratio_backend_sets")
    rtrips = mcv("multi_set_round_trips", "round_trips_per_server")
    s(f"multi_get of 100 keys (one `get k1 .. k100` request): {fmt_rate(mg_ours)} keys through the backend "
      f"(p50 {fmt_ns(mcv('paired_multi_get_100', 'p50_us') * 1e3)} per call), against "
      f"{fmt_rate(mg_raw)} for raw `memcached_mget` "
      f"(p50 {fmt_ns(mcv('paired_multi_get_100', 'raw_p50_us') * 1e3)}): {mg_ratio:.2f}x.")
    s("")
    s(f"multi_set of 100 items (one quiet batch per server): {fmt_rate(ms_ours)} items "
      f"(p50 {fmt_ns(mcv('paired_multi_set_100', 'p50_us') * 1e3)} per call), against "
      f"{fmt_rate(ms_raw)} for 100 raw `memcached_set` one after another ({ms_ratio:.1f}x) and "
      f"{fmt_rate(ms_single)} for 100 backend `set`s one after another ({ms_ratio_own:.1f}x). "
      f"Over 2 servers, each behind a relay that counts round trips: {rtrips:.2f} round trip "
      "per server per multi_set.")
    s("")
    st_ratio = mcv("pool_stalled_server", "ratio")
    st_p99 = mcv("pool_stalled_server", "p99_ratio")
    st_err = mc.mean("pool_stalled_server", "healthy_errors")
    dead_err = mcv("pool_dead_server", "error_share")
    dead_keys = mcv("pool_dead_server", "key_share")
    dead_live = mc.mean("pool_dead_server", "live_key_errors")
    dead_hits = mc.mean("pool_dead_server", "dead_key_hits")
    dead_ratio = mcv("pool_dead_server", "error_share_ratio")  # per repetition, then median
    s("Pools (servers started by the benchmark, `-t 1`). **One of 2 servers SIGSTOPped**: 8 "
      "coroutines get keys the healthy server owns, in 300 ms phases that alternate between the "
      "healthy server alone (the other one running and idle) and the other server stopped while "
      "8 more coroutines get its keys with a 200 ms deadline (6 pairs; SIGCONT after each "
      f"stalled phase). Healthy gets: {fmt_rate(mcv('pool_stalled_server', 'alone_ops_s'))} "
      f"alone, {fmt_rate(mcv('pool_stalled_server', 'stalled_ops_s'))} during the stall "
      f"({st_ratio * 100:.0f}%); p50 "
      f"{fmt_ns(mcv('pool_stalled_server', 'alone_p50_us') * 1e3)} / "
      f"{fmt_ns(mcv('pool_stalled_server', 'stalled_p50_us') * 1e3)}, p99 "
      f"{fmt_ns(mcv('pool_stalled_server', 'alone_p99_us') * 1e3)} / "
      f"{fmt_ns(mcv('pool_stalled_server', 'stalled_p99_us') * 1e3)} "
      f"({st_p99:.2f}x); {st_err:.0f} healthy-key errors (mean per repetition); "
      f"{mcv('pool_stalled_server', 'stalled_timeouts'):.0f} stalled-server gets timed out. "
      "**One of 4 servers SIGKILLed**: 4000 keys read 4 times at concurrency 16: "
      f"{dead_err * 100:.2f}% of gets failed, against the dead server's key share of "
      f"{dead_keys * 100:.2f}% (libmemcached `memcached_generate_hash`, weighted ketama, same "
      f"server list); {dead_live:.0f} errors on live keys, {dead_hits:.0f} dead-server hits; "
      f"failed gets p99 {fmt_ns(mcv('pool_dead_server', 'failed_p99_us') * 1e3)}.")
    s("")
    lat_ratio = mcv("paired_get", "p50_ratio", "1")
    tput1 = mcv("paired_get", "ratio", "1")
    target("memcached", "get: concurrency 1 p50 latency <= 1.15x raw libmemcached",
           f"{lat_ratio:.2f}x", lat_ratio <= 1.15, f"throughput {tput1:.2f}x, target 0.87x")
    g64 = mcv("paired_get", "ratio", "64")
    target("memcached", "get: concurrency 64 >= 10x raw libmemcached on one connection",
           f"{g64:.1f}x", g64 >= 10)
    s8 = mcv("paired_set", "ratio", "8")
    target("memcached", "set: concurrency 8 >= 3x raw libmemcached on one connection",
           f"{s8:.1f}x", s8 >= 3)
    target("memcached", "multi_get of 100 keys >= 0.9x raw `memcached_mget` keys/s",
           f"{mg_ratio:.2f}x", mg_ratio >= 0.9)
    target("memcached", "multi_set of 100 items >= 10x 100 single sets one after another, "
           "one round trip per server",
           f"{ms_ratio:.1f}x raw sets, {rtrips:.2f} round trips per server",
           ms_ratio >= 10 and rtrips <= 1.0, f"{ms_ratio_own:.1f}x the backend's own sets")
    target("memcached", "2 servers, one SIGSTOPped: healthy-server gets >= 90% of their "
           "throughput alone", f"{st_ratio * 100:.0f}%", st_ratio >= 0.9 and st_err == 0,
           f"{st_err:.0f} healthy-key errors")
    target("memcached", "2 servers, one SIGSTOPped: healthy-server get p99 unchanged "
           "(within 1.2x alone)", f"{st_p99:.2f}x", st_p99 <= 1.2)
    target("memcached", "4 servers, one killed: gets fail exactly on the dead server's key "
           "share", f"error share {dead_ratio:.3f}x the key share ({dead_err * 100:.2f}% "
           f"against {dead_keys * 100:.2f}%)",
           abs(dead_ratio - 1) <= 0.02 and dead_live == 0 and dead_hits == 0,
           f"{dead_live:.0f} live-key errors")

    # ---- memo
    sec_memo = []
    s = sec_memo.append
    s("## Memoization")
    s("")
    s("`benchmarks/memo_cached.cpp`: one key, warm, memory backend, one thread, one coroutine "
      "looping; a 100-byte string result. `json:0` stores it with the string serializer (the "
      "layers' own cost), `json:1` with the default JSON serializer.")
    s("")
    s("| benchmark | calls/s | time per call | ratio to `facade_get` (same serializer) |")
    s("|---|---:|---:|---:|")
    for j in ("json:0", "json:1"):
        base = memo.value("facade_get", "real_time", j)
        for func in ("facade_get", "memoized_call", "memo_fn_call", "memoized_call_with_plugins"):
            t = memo.value(func, "real_time", j)
            s(f"| `{func}/{j}` | {fmt_rate(memo.value(func, 'items_per_second', j))} | "
              f"{fmt_ns(t)} | {t / base:.2f}x |")
    s("")
    mc = memo.value("memoized_call", "real_time", "json:0")
    mf = memo.value("memo_fn_call", "real_time", "json:0")
    s(f"`memo_fn` (the type-erased holder) costs {mf - mc:.0f} ns per call over `memoized` "
      f"(string serializer: {fmt_ns(mf)} against {fmt_ns(mc)}).")
    s("")
    for j, label in (("json:0", "string serializer"), ("json:1", "JSON serializer")):
        rate = memo.value("memoized_call", "items_per_second", j)
        unpaired = memo.value("memoized_call", "real_time", j) / memo.value("facade_get", "real_time", j)
        ratio = memo.value("memo_vs_get_paired", "ratio", j)
        g = memo.value("memo_vs_get_paired", "get_ns", j)
        m = memo.value("memo_vs_get_paired", "memo_ns", j)
        s(f"Paired ({label}; `memo_vs_get_paired/{j}`: blocks of 256 gets of the key and 256 "
          f"memoized calls, alternately, medians of the per-pair ratios): {ratio:.2f}x "
          f"({m:.0f} ns against {g:.0f} ns; the unpaired medians above: {unpaired:.2f}x).")
        s("")
        target("memoization", f"warm memoized call >= 1M calls/s, one thread ({label})",
               fmt_rate(rate), rate >= 1e6)
        target("memoization", f"warm memoized call within 1.5x a facade get ({label})",
               f"{ratio:.2f}x paired ({m:.0f} ns against {g:.0f} ns; unpaired {unpaired:.2f}x)",
               ratio <= 1.5)
    try:
        doc = load_json(f"{raw}/memo_sweep.json")
        s("Through the bench tool (`asiocache bench memory:// -m memo=1 --sweep 1,64 "
          "--baseline`, 10k keys, bytes serializer; the baseline reads the value from the map):")
        s("")
        s("| concurrency | memoized calls/s | map lookups/s | ratio | hit ratio |")
        s("|---:|---:|---:|---:|---:|")
        for r in doc["results"]:
            x, y = r["asiocache"], r.get("baseline", {})
            s(f"| {r['concurrency']} | {fmt_rate(x['throughput'])} | "
              f"{fmt_rate(y.get('throughput', float('nan')))} | "
              f"{x['throughput'] / y['throughput'] * 100:.0f}% | {x['hit_ratio'] * 100:.2f}% |")
        s("")
    except (OSError, KeyError, ZeroDivisionError):
        pass
    s("The cold-key target (1000 concurrent callers in 4 processes sharing one server make "
      "exactly 1 upstream call) is a test, not a benchmark: "
      "`memo_server_test` `thousand_callers_in_four_processes_make_one_upstream_call`, on Redis "
      "and on memcached, in every CI run.")
    s("")

    # ---- python / node
    sec_py = []
    s = sec_py.append
    s("## Python aiocache and Node cache-manager")
    s("")
    s("Neither can be installed here: Debian 12 packages neither `aiocache` nor "
      "`node-cache-manager`, and this machine reaches no other package source. Python aiocache "
      "0.12 is a layer over `redis.asyncio` (redis-py, packaged as python3-redis) for Redis and "
      "over a dict for SimpleMemoryCache, adding its decorators, an `asyncio.wait_for` timeout "
      "per call, the serializer and the plugin hooks. So `benchmarks/python_asyncio_bound.py` "
      "measures those foundations doing the same reads: upper bounds on aiocache's rate, and "
      "the ratios below are lower bounds on asiocache's lead. Node cache-manager was not "
      "measured.")
    s("")
    s("| Python floor | concurrency | ops/s | asiocache, same loop | asiocache ops/s | ratio |")
    s("|---|---:|---:|---|---:|---:|")
    for c in (1, 64):
        pr = py_rate("redis", c)
        ours = rbv("bm_asiocache<false>", "items_per_second", "set:0", f"c:{c}")
        s(f"| `redis.asyncio` GET | {c} | {fmt_rate(pr)} | `redis_bench` GET, c={c} | "
          f"{fmt_rate(ours)} | {ours / pr:.1f}x |")
    ours = memory.value("cache_get_bytes", "items_per_second", "threads:1")
    pr = py_rate("memory", 1)
    s(f"| `async def` + dict | 1 | {fmt_rate(pr)} | `cache_get_bytes` (one coroutine looping) | "
      f"{fmt_rate(ours)} | {ours / pr:.1f}x |")
    s("")
    s("Each Python loop also reads the clock twice per operation (for its latency figures), "
      "which the C++ micro-benchmarks do not; at the memory floor's speed that is a large share "
      "of its time, so read that row as an order of magnitude.")
    s("")

    # ---- serializers
    sec_ser = []
    s = sec_ser.append
    s("## Serializers and keys (micro-benchmarks)")
    s("")
    s("`benchmarks/serializers_keys.cpp`: a thread of five chat messages (about 600 bytes of "
      "JSON) through the structured serializers; a 100-byte string through the byte ones; the "
      "facade's key join and a memoized call's argument key.")
    s("")
    s("| benchmark | time per op |")
    s("|---|---:|")
    for name, b in sers.rows.items():
        t = sers.value(name.split("/")[0], "real_time", *name.split("/")[1:])
        label = b.get("label", "")
        s(f"| `{name}`{' (' + label + ')' if label else ''} | {fmt_ns(t)} |")
    s("")

    # ---- assemble
    w("## Targets")
    w("")
    w(TARGETS_HEAD)
    w("|---|---|---|---|")
    for v in verdicts:
        w(target_row(*v))
    w("")
    missed = [v for v in verdicts if not v[3]]
    if missed:
        w(missed_line(len(missed), len(verdicts)))
        w("")
    for sec in (sec_sweep, sec_memory, sec_redis, sec_mc, sec_memo, sec_py, sec_ser):
        out.extend(sec)
    text = "\n".join(out)
    kept = ""
    if a.keep and os.path.exists(a.keep):
        with open(a.keep) as f:
            kept = f.read()
        text = splice_cluster(text, *kept_cluster(kept))
    # The JSON typed path from this run's serializers_bench, else the kept section.
    try:
        with open(f"{raw}/serializers.command") as f:
            ser_command = f.read().strip()
    except OSError:
        ser_command = "serializers_bench, as run_all.sh runs it"
    figures = json_typed_figures(sers, f"{raw}/serializers.json", ser_command) if sers.ok else None
    if figures is None and kept:
        figures = kept_json(kept)
    if figures:
        text = splice_json(text, *figures)
    for name, block, rows in kept_others(kept):
        text = splice_section(text, block[0], block[-1], name, block, rows,
                              lambda lines, b: lines.extend([""] + b if lines[-1] else b))
    print(text)


if __name__ == "__main__":
    sys.exit(main())

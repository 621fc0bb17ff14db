// SPDX-License-Identifier: MIT
// Node's cache-manager 7 (its default store: keyv over a Map, values kept as objects) under the
// workload of `asiocache bench memory:// -c 1`: one thread, one operation in flight, 10000 keys
// of 16 bytes, 100-byte values, every key written first, uniform random keys, a warm-up and then
// a measured window. benchmarks/node_cache_manager.sh installs cache-manager and runs this next
// to asiocache; run alone, `cache-manager` must resolve from this file's folder.
//
//   node node_cache_manager.mjs get memo -d 5s -w 1s [--json]
//
// Modes: `get` (cache.get of a written key: every call a hit), `memo` (cache.wrap(key, fn, ttl)
// on keys that a first wrap of each already stored: every call a hit, fn never runs after that;
// the run fails if it does), `noop` (the loop alone: the generator's own cost). Each mode runs
// on a fresh cache. Keys, values and the key sequence are those of asiocache bench: "key:"
// and a zero-padded index, values of printable bytes from the same seeded xoshiro256**, and a
// stream that draws an operation and then a key per call, as its worker 0 does.
//
// One line per mode: `mode=get ops_per_s=... p50_ns=... p99_ns=... ...`; with --json one
// document with the same fields per mode. Latency: one process.hrtime.bigint() per operation
// (the end of one is the start of the next), as asiocache bench takes one clock reading.

import { createCache } from "cache-manager";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const usage = `usage: node node_cache_manager.mjs [get] [memo] [noop] [options]
  -d, --duration T     measured time per mode (250ms, 5s, 1m; default 5s)
  -w, --warmup T       unmeasured warm-up per mode (default 1s)
  -k, --keys N         distinct keys (default 10000)
  --key-size N         key length in bytes (default 16)
  -s, --value-size N   value size in bytes (default 100)
  --ttl MS             TTL given to set and wrap, in ms (default 0: none, as asiocache bench)
  --seed N             seed of every random choice (default 1)
  --json               print the results as JSON`;

// ---- options --------------------------------------------------------------------------------

function parseDuration(text) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
    if (!m) throw new Error(`bad duration '${text}' (250ms, 5s, 1m)`);
    const scale = { ms: 1e6, s: 1e9, m: 60e9 }[m[2] ?? "s"];
    return BigInt(Math.round(Number(m[1]) * scale));
}

function parseCount(text, name) {
    if (!/^\d+$/.test(text)) throw new Error(`bad ${name} '${text}'`);
    return Number(text);
}

function parseArgs(argv) {
    const o = { modes: [], duration: "5s", warmup: "1s", keys: 10000, keySize: 16, valueSize: 100,
                ttl: 0, seed: 1n, json: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            return argv[++i];
        };
        if (a === "get" || a === "memo" || a === "noop") o.modes.push(a);
        else if (a === "-d" || a === "--duration") o.duration = value();
        else if (a === "-w" || a === "--warmup") o.warmup = value();
        else if (a === "-k" || a === "--keys") o.keys = parseCount(value(), "key count");
        else if (a === "--key-size") o.keySize = parseCount(value(), "key size");
        else if (a === "-s" || a === "--value-size") {
            o.valueSize = parseCount(value(), "value size");
        }
        else if (a === "--ttl") o.ttl = parseCount(value(), "ttl");
        else if (a === "--seed") o.seed = BigInt(parseCount(value(), "seed"));
        else if (a === "--json") o.json = true;
        else if (a === "-h" || a === "--help") { console.log(usage); process.exit(0); }
        else throw new Error(`unknown argument '${a}'\n${usage}`);
    }
    if (o.modes.length === 0) o.modes = ["get", "memo"];
    if (o.keys < 1) throw new Error("the key count must be at least 1");
    o.durationNs = parseDuration(o.duration);
    o.warmupNs = parseDuration(o.warmup);
    if (o.durationNs <= 0n) throw new Error("the duration must be positive");
    return o;
}

// ---- the workload, as asiocache bench builds it (tools/bench/src/common.cpp) -----------------

const mask64 = (1n << 64n) - 1n;
const rotl = (x, k) => ((x << k) | (x >> (64n - k))) & mask64;

// xoshiro256** seeded through splitmix64 (tools/bench/include/asiocache/bench/random.hpp), in
// BigInt: slow, so only used before the measurement.
class Rng {
    constructor(seed) {
        let s = BigInt.asUintN(64, seed);
        this.s = [];
        for (let i = 0; i < 4; i++) {
            s = (s + 0x9e3779b97f4a7c15n) & mask64;
            let z = s;
            z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask64;
            z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask64;
            this.s.push(z ^ (z >> 31n));
        }
    }
    next() {
        const s = this.s;
        const result = (rotl((s[1] * 5n) & mask64, 7n) * 9n) & mask64;
        const t = (s[1] << 17n) & mask64;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45n);
        return result;
    }
    // Lemire's multiply-shift, as rng::below.
    below(n) {
        return Number((this.next() * BigInt(n)) >> 64n);
    }
}

function workload(o) {
    const digits = String(o.keys - 1).length;
    const width = Math.max(digits, o.keySize > 4 ? o.keySize - 4 : 0);
    const keys = Array.from({ length: o.keys }, (_, i) => `key:${String(i).padStart(width, "0")}`);
    const r = new Rng(o.seed ^ 0x76616c7565n);
    let value = "";
    for (let i = 0; i < Math.max(o.valueSize, 1); i++) {
        value += String.fromCharCode(97 + r.below(26));
    }
    value = value.slice(0, o.valueSize);
    // Worker 0's stream: per call an operation (one kind here, weight 100) and then a key. The
    // indexes are drawn once into a ring, so that the loop pays an array read per key; 2^18
    // calls before it repeats, each key about 26 times.
    const stream = new Rng(o.seed * 0x9e3779b97f4a7c15n);
    const ring = new Uint32Array(1 << 18);
    for (let i = 0; i < ring.length; i++) {
        stream.below(100);
        ring[i] = stream.below(o.keys);
    }
    return { keys, value, ring };
}

// ---- latency: exact counts per nanosecond up to 1 ms, the rest kept as they are -------------

class Histogram {
    constructor() {
        this.counts = new Uint32Array(1_000_000);
        this.over = [];
        this.n = 0;
    }
    record(ns) {
        if (ns < 1_000_000) this.counts[ns]++;
        else this.over.push(ns);
        this.n++;
    }
    // The smallest value with at least q of the samples at or below it.
    at(q) {
        if (this.n === 0) return 0;
        const rank = Math.max(1, Math.ceil(q * this.n));
        let seen = 0;
        for (let v = 0; v < this.counts.length; v++) {
            seen += this.counts[v];
            if (seen >= rank) return v;
        }
        this.over.sort((a, b) => a - b);
        return this.over[rank - seen - 1];
    }
}

// ---- the modes ------------------------------------------------------------------------------

async function measure(o, w, mode) {
    const cache = createCache();
    const ttl = o.ttl;
    const { keys, value, ring } = w;
    let fnCalls = 0;
    // What asiocache bench's memoized upstream returns: the first value-size bytes of the pool.
    const fn = async () => {
        fnCalls++;
        return value;
    };
    const memoKeys = keys.map((k) => `bench-memo:${k}`);

    // Every key written first: by set for get, by a first wrap (running fn) for memo.
    for (let i = 0; i < keys.length; i++) {
        if (mode === "memo") await cache.wrap(memoKeys[i], fn, ttl);
        else await cache.set(keys[i], value, ttl);
    }
    const prefillCalls = fnCalls;
    fnCalls = 0;

    const hist = new Histogram();
    const mask = ring.length - 1;
    let hits = 0;
    let misses = 0;
    let operations = 0;
    let i = 0;
    let now = process.hrtime.bigint();
    const measureStart = now + o.warmupNs;
    const end = measureStart + o.durationNs;
    let lastEnd = now;
    // One call at a time, each awaited before the next starts (concurrency 1).
    while (now < end) {
        const start = now;
        const k = ring[i++ & mask];
        let hit = true;
        if (mode === "get") {
            hit = (await cache.get(keys[k])) !== undefined;
        } else if (mode === "memo") {
            hit = (await cache.wrap(memoKeys[k], fn, ttl)) !== undefined;
        }
        now = process.hrtime.bigint();
        if (start >= measureStart) {
            hist.record(Number(now - start));
            if (hit) hits++;
            else misses++;
            operations++;
            lastEnd = now;
        }
    }
    await cache.disconnect();
    const seconds = Number(lastEnd - measureStart) / 1e9;
    return {
        mode,
        operations,
        seconds,
        ops_per_s: seconds > 0 ? operations / seconds : 0,
        p50_ns: hist.at(0.5),
        p99_ns: hist.at(0.99),
        hits,
        misses,
        fn_calls: fnCalls,
        prefill_fn_calls: prefillCalls,
    };
}

function packageVersion(name) {
    // The package folder next to this file's node_modules, where npm install --prefix put it.
    try {
        const here = dirname(fileURLToPath(import.meta.url));
        return JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8"))
            .version;
    } catch {
        return "unknown";
    }
}

async function main() {
    let o;
    try {
        o = parseArgs(process.argv.slice(2));
    } catch (e) {
        console.error(`node_cache_manager: ${e.message}`);
        process.exit(1);
    }
    const w = workload(o);
    const results = [];
    const failed = [];
    for (const mode of o.modes) {
        const r = await measure(o, w, mode);
        results.push(r);
        // Every call should hit, and a memoized call should never run its function.
        if (r.misses !== 0) failed.push(`${mode}: ${r.misses} misses`);
        if (r.fn_calls !== 0) failed.push(`${mode}: fn ran ${r.fn_calls} times after the prefill`);
    }
    if (o.json) {
        console.log(JSON.stringify({
            client: "cache-manager",
            cache_manager_version: packageVersion("cache-manager"),
            keyv_version: packageVersion("keyv"),
            node_version: process.version,
            workload: {
                concurrency: 1,
                threads: 1,
                key_count: o.keys,
                key_size: w.keys[0].length,
                value_size: w.value.length,
                distribution: "uniform",
                duration_ms: Number(o.durationNs / 1_000_000n),
                warmup_ms: Number(o.warmupNs / 1_000_000n),
                ttl_ms: o.ttl,
                seed: Number(o.seed),
            },
            results,
            ok: failed.length === 0,
        }, null, 2));
    } else {
        for (const r of results) {
            console.log(`mode=${r.mode} ops_per_s=${Math.round(r.ops_per_s)} p50_ns=${r.p50_ns} ` +
                        `p99_ns=${r.p99_ns} operations=${r.operations} ` +
                        `seconds=${r.seconds.toFixed(3)} hits=${r.hits} misses=${r.misses} ` +
                        `fn_calls=${r.fn_calls} prefill_fn_calls=${r.prefill_fn_calls}`);
        }
    }
    if (failed.length) {
        console.error(`node_cache_manager: ${failed.join("; ")}`);
        process.exit(2);
    }
}

await main();

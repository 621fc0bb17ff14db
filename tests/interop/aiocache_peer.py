#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Python side of the aiocache interop tests.

Writes and reads cache entries on Redis or memcached exactly as Python aiocache 0.12 lays them
out, without needing aiocache itself (it is not packaged in Debian):

- keys: RedisCache joins "namespace:key" (no ':' without a namespace); MemcachedCache joins
  "namespacekey", turns spaces into '_' and encodes UTF-8 (aiocache 0.12 `_build_key`);
- values: JsonSerializer is `json.dumps(value)` (stdlib json when ujson is absent: ", " and
  ": " separators, ASCII-only with \\uXXXX escapes, NaN/Infinity/-Infinity), StringSerializer
  is `str(value)`; both are stored as UTF-8; reading is `json.loads` / the text itself;
- TTLs: Redis SETEX for whole seconds, PSETEX for a float number of seconds; memcached
  `set(..., exptime=int(ttl))`.

Usage: aiocache_peer.py write|read redis|memcached HOST PORT CASES_JSON
`write` stores every case; `read` checks every case that the C++ side stored and prints a JSON
report; it exits 1 if any case differs.
"""

import json
import math
import sys


def build_key(backend, key, namespace):
    if backend == "redis":
        return "{}{}{}".format(namespace, ":" if namespace else "", key)
    return (namespace + key).replace(" ", "_").encode("utf-8")


def dumps(case):
    if "raw" in case:
        return case["raw"]  # a form another writer (ujson, an indenting dumps) produces
    if case["serializer"] == "json":
        return json.dumps(case["value"])
    return str(case["value"])


class RedisPeer:
    def __init__(self, host, port):
        import redis

        self.client = redis.Redis(host=host, port=port)

    def set(self, key, value, ttl):
        if ttl is None:
            self.client.set(key, value)
        elif isinstance(ttl, float):
            self.client.psetex(key, int(ttl * 1000), value)
        else:
            self.client.setex(key, ttl, value)

    def get(self, key):
        return self.client.get(key)

    def ttl_ms(self, key):
        return self.client.pttl(key)


class MemcachedPeer:
    def __init__(self, host, port):
        from pymemcache.client.base import Client

        self.client = Client((host, port), allow_unicode_keys=False)

    def set(self, key, value, ttl):
        if not self.client.set(key, value, expire=int(ttl or 0), noreply=False):
            raise RuntimeError("memcached refused key {!r}".format(key))

    def get(self, key):
        return self.client.get(key)

    def ttl_ms(self, key):
        return None  # memcached cannot report it


def same(a, b):
    """Equality where NaN equals NaN and 100.0 is not 100."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def read(peer, backend, cases):
    failures = []
    for case in cases:
        key = build_key(backend, case["key"], case["ns"])
        stored = peer.get(key)
        if stored is None:
            failures.append({"key": repr(key), "error": "missing"})
            continue
        text = stored.decode("utf-8")
        if case["serializer"] == "json":
            got = json.loads(text)
            if not same(got, case["value"]):
                failures.append({"key": repr(key), "stored": text, "expected": repr(case["value"])})
        elif text != str(case["value"]):
            failures.append({"key": repr(key), "stored": text, "expected": str(case["value"])})
        ttl = case.get("ttl")
        remaining = peer.ttl_ms(key) if ttl is not None else None
        if remaining is not None and not 0 < remaining <= ttl * 1000:
            failures.append({"key": repr(key), "ttl_ms": remaining, "expected_at_most": ttl * 1000})
    print(json.dumps({"checked": len(cases), "failures": failures}))
    return 1 if failures else 0


def main(argv):
    if len(argv) != 6 or argv[1] not in ("write", "read") or argv[2] not in ("redis", "memcached"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, backend, host, port, cases_file = argv[1:]
    with open(cases_file, encoding="utf-8") as f:
        cases = [c for c in json.load(f) if "raw" not in c or mode == "write"]
    peer = (RedisPeer if backend == "redis" else MemcachedPeer)(host, int(port))
    if mode == "write":
        for case in cases:
            peer.set(build_key(backend, case["key"], case["ns"]), dumps(case).encode("utf-8"),
                     case.get("ttl"))
        print(json.dumps({"written": len(cases)}))
        return 0
    return read(peer, backend, cases)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

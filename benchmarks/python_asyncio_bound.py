#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Upper bounds on Python aiocache's throughput, measured with what aiocache is built on.

aiocache itself is not packaged in Debian 12 and this machine has no other package source, so
it cannot be run here. Its operations are layers over these, so these rates bound it from
above (aiocache adds its decorators, an `asyncio.wait_for` timeout per call, the serializer
and the plugin hooks):

- redis: `redis.asyncio` (redis-py 4.3), the client aiocache 0.12's RedisCache uses. N
  coroutines each loop `await client.get(key)` over prefilled keys, with the client's default
  connection pool, as RedisCache creates it.
- memory: aiocache's SimpleMemoryCache is a dict behind `async def get`. N coroutines each loop
  `await get(key)` where get is an `async def` returning `dict.get(key)`.

Usage: python_asyncio_bound.py memory|redis HOST PORT CONCURRENCY DURATION [KEYS] [VALUE_SIZE]
DURATION is seconds, or a number with s or ms ("3s", "500ms").
Prints one JSON object: target, concurrency, operations, seconds, throughput, p50_us, p99_us.
"""

import asyncio
import json
import sys
import time


async def drive(get, keys, concurrency, seconds):
    latencies = []
    stop = time.perf_counter() + seconds
    count = 0

    async def worker(offset):
        nonlocal count
        i = offset
        n = len(keys)
        while True:
            start = time.perf_counter()
            if start >= stop:
                return
            await get(keys[i % n])
            latencies.append(time.perf_counter() - start)
            count += 1
            i += 7

    begin = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - begin
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6
    return count, elapsed, pick(0.50), pick(0.99)


async def main():
    kind, host, port, concurrency, seconds = sys.argv[1:6]
    keys_n = int(sys.argv[6]) if len(sys.argv) > 6 else 10000
    value = b"x" * (int(sys.argv[7]) if len(sys.argv) > 7 else 100)
    keys = ["key:%012d" % i for i in range(keys_n)]
    concurrency = int(concurrency)
    if seconds.endswith("ms"):
        seconds = float(seconds[:-2]) / 1000
    else:
        seconds = float(seconds.rstrip("s"))
    if kind == "memory":
        data = {k: value for k in keys}

        async def get(k):
            return data.get(k)

        target = "Python asyncio: async def get over a dict (SimpleMemoryCache's floor)"
        client = None
    elif kind == "redis":
        import redis.asyncio

        client = redis.asyncio.Redis(host=host, port=int(port))
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.set(k, value)
        await pipe.execute()
        get = client.get
        target = "Python redis.asyncio GET (RedisCache's client, default pool)"
    else:
        raise SystemExit("unknown kind " + kind)
    await drive(get, keys, concurrency, min(1.0, seconds / 3))  # warm-up
    count, elapsed, p50, p99 = await drive(get, keys, concurrency, seconds)
    if client is not None:
        await client.close()
    print(json.dumps({"target": target, "kind": kind, "concurrency": concurrency,
                      "operations": count, "seconds": elapsed, "throughput": count / elapsed,
                      "p50_us": p50, "p99_us": p99}))


asyncio.run(main())

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Parses a Prometheus text exposition with the reference parser (prometheus_client) and prints
what it read as JSON, for the metrics tests to check: one object per family with its type and
samples. The text comes from standard input, or is scraped from the URL given as argument
(then the Content-Type is printed too)."""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    doc = {}
    if len(sys.argv) > 1:
        with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
            doc["content_type"] = r.headers.get("Content-Type")
            text = r.read().decode("utf-8")
    else:
        text = sys.stdin.read()
    families = []
    for f in text_string_to_metric_families(text):
        families.append({
            "name": f.name,
            "type": f.type,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value}
                        for s in f.samples],
        })
    doc["families"] = families
    json.dump(doc, sys.stdout)


if __name__ == "__main__":
    main()

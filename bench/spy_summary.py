#!/usr/bin/env python
"""Summarise a py-spy raw profile (what place_calls.py --py-spy DIR writes) by function.

    python bench/spy_summary.py DIR/worker0.txt [--top 40] [--grep services.py]

Prints each function's share of the samples (inclusive: the function and what it calls),
then the innermost frames. place_calls.py records with --gil, so the samples are where the
process held the GIL: its CPU time, not its waits.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys

_LOCATION = re.compile(r" \(([^:()]*)(?::\d+)?\)$")


def _name(frame: str) -> str:
    """Return 'function [file]' for one 'function (path:line)' frame."""
    match = _LOCATION.search(frame)
    if match is None:
        return frame
    path = match.group(1).split("site-packages/")[-1]
    return f"{frame[: match.start()]} [{path}]"


def main() -> int:
    """Read the profile and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--grep", default="", help="only functions whose line contains this")
    args = parser.parse_args()
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    with open(args.profile) as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            total += samples
            frames = [_name(f) for f in stack.split(";") if not f.startswith("thread (")]
            if not frames:
                continue
            leaf[frames[-1]] += samples
            for name in set(frames):
                inclusive[name] += samples
    if not total:
        print("no samples", file=sys.stderr)
        return 1
    print(f"{total} samples")
    for title, table in (("inclusive", inclusive), ("innermost", leaf)):
        print(f"--- {title}")
        rows = [(n, k) for k, n in table.most_common() if args.grep in k][: args.top]
        for samples, name in rows:
            print(f"{samples:7d} {samples / total:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

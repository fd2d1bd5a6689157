"""Summarise a py-spy raw (collapsed-stack) profile: the share of samples under each of our
own functions (inclusive), and the leaf frames where the time is spent (exclusive).

    .venv/bin/python -m bench.top_frames bench/out/profile/app.txt [--top 30] [--match tickler]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

OURS = ("actors/", "api/", "domain/", "service/", "store/", "workflows/", "sidecar/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        leaves[frames[-1]] += n
        for frame in {f for f in frames if any(o in f for o in OURS) and ".venv" not in f}:
            inclusive[frame] += n
    print(f"{total} samples\n\n## our functions, inclusive")
    for frame, n in inclusive.most_common(args.top):
        print(f"{n / total:6.1%}  {frame}")
    print("\n## leaf frames, exclusive")
    for frame, n in leaves.most_common(args.top):
        print(f"{n / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()

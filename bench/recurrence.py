"""Recurrence speed over the RFC 5545 section 3.8.5.3 example rules.

Targets: median next_occurrence < 100 us; median preview of 100 < 5 ms.
Run: .venv/bin/python -m bench.recurrence   (about 20 s)
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from domain.recurrence import first_occurrence, iteration, next_occurrence, parse_rule, preview

ZONE = "America/New_York"
RFC_CASES = [
    ("FREQ=DAILY;COUNT=10", datetime(1997, 9, 2, 9)),
    ("FREQ=DAILY;UNTIL=19971224T000000Z", datetime(1997, 9, 2, 9)),
    ("FREQ=DAILY;INTERVAL=2", datetime(1997, 9, 2, 9)),
    ("FREQ=DAILY;INTERVAL=10;COUNT=5", datetime(1997, 9, 2, 9)),
    (
        "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        datetime(1998, 1, 1, 9),
    ),
    ("FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1", datetime(1998, 1, 1, 9)),
    ("FREQ=WEEKLY;COUNT=10", datetime(1997, 9, 2, 9)),
    ("FREQ=WEEKLY;INTERVAL=2;WKST=SU", datetime(1997, 9, 2, 9)),
    ("FREQ=WEEKLY;INTERVAL=2;WKST=SU;BYDAY=TU,TH", datetime(1997, 9, 2, 9)),
    (
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        datetime(1997, 9, 1, 9),
    ),
    ("FREQ=MONTHLY;COUNT=10;BYDAY=1FR", datetime(1997, 9, 5, 9)),
    ("FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU", datetime(1997, 9, 7, 9)),
    ("FREQ=MONTHLY;COUNT=6;BYDAY=-2MO", datetime(1997, 9, 22, 9)),
    ("FREQ=MONTHLY;BYDAY=-1FR", datetime(1997, 9, 26, 9)),
    ("FREQ=MONTHLY;BYMONTHDAY=-3", datetime(1997, 9, 28, 9)),
    ("FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15", datetime(1997, 9, 2, 9)),
    ("FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15", datetime(1997, 9, 10, 9)),
    ("FREQ=YEARLY;COUNT=10;BYMONTH=6,7", datetime(1997, 6, 10, 9)),
    ("FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200", datetime(1997, 1, 1, 9)),
    ("FREQ=YEARLY;BYDAY=20MO", datetime(1997, 5, 19, 9)),
    ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", datetime(1997, 5, 12, 9)),
    ("FREQ=YEARLY;BYMONTH=3;BYDAY=TH", datetime(1997, 3, 13, 9)),
    ("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", datetime(1997, 9, 2, 9)),
    ("FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13", datetime(1997, 9, 13, 9)),
    (
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        datetime(1996, 11, 5, 9),
    ),
    ("FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3", datetime(1997, 9, 4, 9)),
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2", datetime(1997, 9, 29, 9)),
    ("FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z", datetime(1997, 9, 2, 9)),
    ("FREQ=MINUTELY;INTERVAL=15;COUNT=6", datetime(1997, 9, 2, 9)),
    ("FREQ=MINUTELY;INTERVAL=90;COUNT=4", datetime(1997, 9, 2, 9)),
    ("FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40", datetime(1997, 9, 2, 9)),
    ("FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16", datetime(1997, 9, 2, 9)),
    ("FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5", datetime(2007, 1, 15, 9)),
    ("FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO", datetime(1997, 8, 5, 9)),
]
NEXT_SAMPLES = 40  # occurrences completed per rule
NEXT_REPEATS = 25
PREVIEW_REPEATS = 60


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Per-call wall time in microseconds."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - start) / 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def report(label: str, values: list[float], unit: str = "us") -> None:
    scale = 1000 if unit == "ms" else 1
    median, tail = statistics.median(values) / scale, p95(values) / scale
    print(f"  {label:<72} median {median:9.2f} {unit}  p95 {tail:9.2f} {unit}")


def bench_next(rule) -> list[float]:
    occurrences = preview(rule, NEXT_SAMPLES + 1)[:-1] or [first_occurrence(rule)]
    samples: list[float] = []
    for occ in occurrences:
        samples += timed(
            lambda occ=occ: next_occurrence(rule, occ, completed_at=occ.due_at, now=occ.due_at),
            NEXT_REPEATS,
        )
    return samples


def main() -> None:
    started = time.perf_counter()
    all_next: list[float] = []
    all_preview: list[float] = []
    print(f"next_occurrence (warm cache, {NEXT_SAMPLES} completed occurrences x {NEXT_REPEATS})")
    rules = [parse_rule(rrule, dtstart, ZONE) for rrule, dtstart in RFC_CASES]
    for rule in rules:
        samples = bench_next(rule)
        all_next += samples
        report(rule.rrule[:72], samples)
    print(f"\npreview(rule, 100) from occurrence 0 (x {PREVIEW_REPEATS})")
    for rule in rules:
        samples = timed(lambda rule=rule: preview(rule, 100), PREVIEW_REPEATS)
        all_preview += samples
        report(rule.rrule[:72], samples, "ms")

    print("\nlong-running series: FREQ=DAILY from 2020-01-01, five years in")
    daily = parse_rule("FREQ=DAILY", datetime(2020, 1, 1, 9), ZONE)
    five_years = datetime(2025, 1, 1, tzinfo=UTC)
    iteration._series.cache_clear()
    report(
        "preview(100, after=+5y), first call (counts 1,827 instances)",
        timed(lambda: preview(daily, 100, after=five_years), 1),
        "ms",
    )
    report(
        "preview(100, after=+5y), later calls",
        timed(lambda: preview(daily, 100, after=five_years), PREVIEW_REPEATS),
        "ms",
    )
    [deep] = preview(daily, 1, after=five_years)
    deep_next = timed(
        lambda: next_occurrence(daily, deep, completed_at=deep.due_at, now=deep.due_at), 500
    )
    report(f"next_occurrence after occurrence {deep.index}", deep_next)
    late = deep.due_at + timedelta(days=365)
    report(
        "next_occurrence, skip_missed, completed a year late (365 skipped)",
        timed(lambda: next_occurrence(daily, deep, completed_at=late, now=late), 200),
    )
    after_completion = parse_rule(
        "FREQ=DAILY;INTERVAL=3", datetime(2020, 1, 1, 9), ZONE, mode="after_completion"
    )
    report(
        "next_occurrence, after_completion, FREQ=DAILY;INTERVAL=3",
        timed(lambda: next_occurrence(after_completion, deep, completed_at=late, now=late), 500),
    )

    print("\ncold: parse_rule + first_occurrence with caches cleared")
    cold: list[float] = []
    for rrule, dtstart in RFC_CASES:
        for _ in range(10):
            iteration._series.cache_clear()
            cold += timed(
                lambda rrule=rrule, dtstart=dtstart: first_occurrence(
                    parse_rule(rrule, dtstart, ZONE)
                ),
                1,
            )
    report(f"all {len(RFC_CASES)} rules", cold)

    print(f"\noverall over {len(RFC_CASES)} RFC 5545 rules")
    report("next_occurrence", all_next)
    report("preview of 100", all_preview, "ms")
    next_ok = statistics.median(all_next) < 100
    preview_ok = statistics.median(all_preview) < 5000
    print(f"  target next_occurrence median < 100 us: {'met' if next_ok else 'MISSED'}")
    print(f"  target preview(100) median < 5 ms:      {'met' if preview_ok else 'MISSED'}")
    print(f"\n(ran in {time.perf_counter() - started:.1f} s, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()

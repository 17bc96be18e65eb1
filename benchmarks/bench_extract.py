"""Benchmark: extraction of a 10,000-row table page (goal: under 2 s).

    python benchmarks/bench_extract.py [--rows N] [--repeat K]

Prints the page size, accounts found, the best and median wall time over K runs, and the
peak memory that extraction allocates (tracemalloc).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

from wmsocial_bot.extract import extract_accounts

TEMPLATES = (
    "[https://wikis.world/@user{i} @user{i}@wikis.world]",
    '[<tvar name="x{i}">https://x.com/user{i}</tvar> <translate><!--T:{i}--> X</translate>]',
    "https://bsky.app/profile/user{i}.bsky.social",
    "[https://www.youtube.com/@User{i}/videos YouTube]",
    "@user{i}@mastodon.example",
    "[https://www.instagram.com/user{i}/?igshid=abc Instagram]",
    "[<tvar|t{i}>https://t.me/s/channel{i}</> Telegram]",
    "{{{{URL|social.example/@user{i}}}}}",
)


def build_page(rows: int) -> str:
    lines = [
        "<languages/>",
        "== <translate><!--T:1--> Accounts</translate> ==",
        '{| class="wikitable sortable"',
        "! Owner !! Language !! Account !! Notes",
    ]
    for i in range(rows):
        lines.append("|-")
        if i % 50 == 0:
            lines.append(f'| rowspan="2" | Chapter {i} || lang{i % 7}')
        else:
            lines.append(f"| Community {i} || lang{i % 7}")
        lines.append(f"| {TEMPLATES[i % len(TEMPLATES)].format(i=i)} || <!-- note {i} --> ok")
    lines.append("|}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    page = build_page(args.rows)
    times = []
    found = 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        found = len(extract_accounts(page).accounts)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    extract_accounts(page)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"page: {args.rows} rows, {len(page):,} characters; accounts found: {found}")
    print(
        f"extraction wall time: best {min(times):.3f} s, median {statistics.median(times):.3f} s "
        f"over {args.repeat} runs (goal < 2 s)"
    )
    print(f"peak memory allocated during extraction: {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

"""Run every benchmark and print its numbers: ``.venv/bin/python -m benchmarks [--only NAME]``."""

import argparse

from benchmarks import contacts_search, marc_ingest, matching, matching_stored

BENCHMARKS = {"contacts_search": contacts_search.main, "marc_ingest": marc_ingest.main, "matching": matching.main}
BENCHMARKS["matching_stored"] = matching_stored.main
from benchmarks import digests  # noqa: E402
BENCHMARKS["digests"] = digests.main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run one benchmark")
    parser.add_argument("--database-url", help="a PostgreSQL URL to run against (default: a temporary SQLite file)")
    args = parser.parse_args()
    for name, run in BENCHMARKS.items():
        if args.only and name != args.only:
            continue
        print(f"== {name}")
        run(database_url=args.database_url)


if __name__ == "__main__":
    main()

"""Command line: ``python -m env_server {build-data, bench, demo}``."""
from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m env_server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build-data", help="generate data/tasks/*.jsonl and data/README.md")
    build.add_argument("--out", type=Path, default=None, help="output folder (default: the repository's data/)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    bench = sub.add_parser("bench", help="measure reset latency and grading cost; write results/bench/core.json")
    bench.add_argument("--tasks", type=int, default=200, help="train tasks sampled")
    bench.add_argument("--resets", type=int, default=2000, help="resets timed")
    sub.add_parser("demo", help="build data if missing, play scripted episodes, print a summary")
    args = parser.parse_args(argv)

    if args.command == "build-data":
        from env_server.tasks.build import main as build_main
        from env_server.tasks.registry import data_dir

        build_main(args.out or data_dir(), progress=not args.quiet)
    elif args.command == "bench":
        from env_server.bench import main as bench_main

        bench_main(n_tasks=args.tasks, resets=args.resets)
    elif args.command == "demo":
        from env_server.demo import main as demo_main

        demo_main()


if __name__ == "__main__":
    main()

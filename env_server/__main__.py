"""Command line: ``python -m env_server {serve, build-data, bench, warm, demo, eval-reviewer, exploits}``."""
from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m env_server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the env server (OpenEnv routes, sessions, /grade, playground)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1,
                       help="uvicorn worker processes (default 1). With more, /grade, /review, /tasks and /ws scale but "
                            "HTTP sessions are refused (421): use --replicas for them")
    serve.add_argument("--replicas", type=int, default=1,
                       help="start this many one-process servers on ports PORT..PORT+N-1 and print the URL list for "
                            "DATAOPS_ENV_URL; clients keep each session on the replica that created it")
    serve.add_argument("--tasks", action="append", default=[], metavar="PATH.jsonl",
                       help="custom task file (or folder) added to the built-in tasks; repeatable")
    serve.add_argument("--session-cap", type=int, default=512, help="live sessions per worker (default 512)")
    serve.add_argument("--session-ttl", type=float, default=900.0, help="idle seconds before eviction (default 900)")
    serve.add_argument("--sessions-per-client", type=int, default=None,
                       help="live sessions one client (address, or token) may hold (default: a quarter of the cap)")
    serve.add_argument("--inflight-per-client", type=int, default=2,
                       help="/grade, /review and /benchmark requests one client may have in flight (default 2)")
    serve.add_argument("--clone-mib", type=float, default=2048.0,
                       help="MiB of private repair-database copies all sessions may hold (default 2048)")
    serve.add_argument("--clone-mib-per-client", type=float, default=None,
                       help="MiB of those copies one client may hold (default: a quarter of --clone-mib)")
    serve.add_argument("--client-tokens", type=Path, default=None, metavar="PATH",
                       help="a file of client tokens, one per line: a request presenting one (Authorization: Bearer T "
                            "or X-Client-Token: T) gets its own quotas instead of its address's")
    serve.add_argument("--forwarded-allow-ips", default=None, metavar="IPS",
                       help="proxies whose X-Forwarded-For names the client (uvicorn's option; default "
                            "$FORWARDED_ALLOW_IPS or 127.0.0.1,::1): behind a remote proxy, name it (or '*' when only the "
                            "proxy reaches the server) so each client gets its own quotas")
    serve.add_argument("--benchmark", choices=("on", "off", "loopback"), default="loopback",
                       help="GET /benchmark: on, off, or loopback (default: only clients on a loopback address)")
    build = sub.add_parser(
        "build-data",
        help="generate data/tasks/*.jsonl, data/docs/ and data/README.md; or, with --from-sqlite/--from-sql, "
        "tasks for your own database",
    )
    build.add_argument("--out", type=Path, default=None,
                       help="output folder (default: the repository's data/); with --from-*: the JSONL file to write "
                       "(default ./<name>.tasks.jsonl)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.add_argument("--no-external", action="store_true",
                       help="skip the heldout_external split (needs data/external/defog-data)")
    source = build.add_mutually_exclusive_group()
    source.add_argument("--from-sqlite", type=Path, metavar="PATH", help="bring your own database: a SQLite file")
    source.add_argument("--from-sql", type=Path, metavar="PATH",
                        help="bring your own database: a SQL dump (CREATE TABLE + INSERT); see --dialect")
    build.add_argument("--dialect", default=None,
                       help="sqlglot dialect of --from-sql, e.g. postgres, mysql (default: sqlite)")
    build.add_argument("--name", default=None, help="with --from-*: name used in task ids (default: the file name)")
    build.add_argument("--families", default="debug,analyst,repair",
                       help="with --from-*: comma-separated families (default debug,analyst,repair)")
    build.add_argument("--per-family", type=int, default=40, help="with --from-*: tasks per family (default 40)")
    bench = sub.add_parser("bench", help="measure reset latency and grading cost; write results/bench/core.json")
    bench.add_argument("--tasks", type=int, default=200, help="train tasks sampled")
    bench.add_argument("--resets", type=int, default=2000, help="resets timed")
    bench.add_argument("--rounds", type=_rounds, default=None,
                       help="interleaved rounds of every side (at least 5; default 5; not --hostile)")
    which = bench.add_mutually_exclusive_group()
    which.add_argument("--http", action="store_true", help="measure the server over HTTP; write results/bench/http.json")
    which.add_argument("--families", action="store_true",
                       help="grading, reset and search cost per family vs raw sqlite3; write results/bench/families.json")
    which.add_argument("--hostile", action="store_true",
                       help="every attack class against a real server; write results/bench/hostile.json")
    which.add_argument("--scale", action="store_true",
                       help="reset, memory and grading at 1k/10k/100k/1M rows vs raw sqlite3; write results/bench/scale.json")
    which.add_argument("--reviewer", action="store_true",
                       help="our reviewer vs the keyword baseline on the labelled corpus; write results/bench/reviewer.json")
    which.add_argument("--cold", action="store_true",
                       help="first grade of a 100k- and a 1M-row task in a fresh process vs raw sqlite3 doing the same "
                            "work; write results/bench/cold.json")
    which.add_argument("--byo", action="store_true",
                       help="bring-your-own builds (Chinook, flights databases up to 1M rows): CPU time and peak memory "
                            "vs raw sqlite3 reading the data; write results/bench/byo.json")
    bench.add_argument("--cases", default=None, help="with --byo: comma-separated cases (default "
                       "chinook,flights-10000,flights-100000,flights-1000000)")
    bench.add_argument("--case-timeout", type=float, default=None, help="with --byo: wall seconds per case (default 1200)")
    warm = sub.add_parser("warm", help="build tasks' databases, variants and gold results ahead of time; slow "
                          "builds are saved to the template store on disk for every later process")
    warm.add_argument("task_ids", nargs="*", metavar="TASK_ID", help="tasks to warm (default: every chosen task)")
    warm.add_argument("--tasks", action="append", default=[], metavar="PATH.jsonl",
                      help="custom task file (or folder) added to the built-in tasks; repeatable")
    warm.add_argument("--split", default=None, help="only tasks of this split")
    warm.add_argument("--family", default=None, help="only tasks of this family")
    warm.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("demo", help="build data if missing, play scripted episodes, print a summary")
    hacks = sub.add_parser("exploits", help="play the hack suite (scripted exploits and correct solutions) on held-out "
                           "tasks of every family; write results/eval/exploits.json")
    hacks.add_argument("--per-family", type=int, default=24, help="tasks per family (default 24)")
    hacks.add_argument("--seed", type=int, default=0, help="sampling seed")
    review = sub.add_parser("eval-reviewer", help="careless vs careful policies with and without review; "
                            "write results/eval/reviewer_path.json")
    review.add_argument("--tasks", type=int, default=60, help="held-out tasks sampled (default 60)")
    review.add_argument("--seed", type=int, default=0, help="sampling seed")
    args = parser.parse_args(argv)
    rounds = {"rounds": args.rounds} if getattr(args, "rounds", None) else {}
    if rounds and args.command == "bench" and args.hostile:
        parser.error("--rounds does not apply to --hostile")

    if args.command == "serve":
        serve_main(args)
    elif args.command == "build-data" and (args.from_sqlite or args.from_sql):
        byo_command(args)
    elif args.command == "build-data":
        from env_server.tasks.build import main as build_main
        from env_server.tasks.registry import data_dir

        if args.dialect or args.name:
            parser.error("--dialect and --name go with --from-sqlite/--from-sql")
        build_main(args.out or data_dir(), progress=not args.quiet, external=not args.no_external)
    elif args.command == "bench" and args.hostile:
        from env_server.tools.bench_hostile import main as bench_hostile_main

        bench_hostile_main()
    elif args.command == "bench" and args.reviewer:
        from env_server.tools.bench_reviewer import main as bench_reviewer_main

        bench_reviewer_main(**rounds)
    elif args.command == "bench" and args.byo:
        from env_server.tools import bench_byo

        cases = tuple(c for c in (args.cases or ",".join(bench_byo.DEFAULT_CASES)).split(",") if c)
        bench_byo.main(cases, args.case_timeout or bench_byo.CASE_TIMEOUT_S)
    elif args.command == "bench" and args.scale:
        from env_server.tools.bench_scale import main as bench_scale_main

        bench_scale_main(**rounds)
    elif args.command == "bench" and args.cold:
        from env_server.tools.bench_cold import main as bench_cold_main

        bench_cold_main(**rounds)
    elif args.command == "bench" and args.families:
        from env_server.tools.bench_families import main as bench_families_main

        bench_families_main(**rounds)
    elif args.command == "bench" and args.http:
        from env_server.tools.bench_http import main as bench_http_main

        bench_http_main(**rounds)
    elif args.command == "bench":
        from env_server.tools.bench import main as bench_main

        bench_main(n_tasks=args.tasks, resets=args.resets, **rounds)
    elif args.command == "eval-reviewer":
        from env_server.tools.review_eval import run as review_run

        print(f"wrote {review_run(n_tasks=args.tasks, seed=args.seed)}")
    elif args.command == "exploits":
        from env_server.tools.exploits import main as exploits_main

        print(f"wrote {exploits_main(per_family=args.per_family, seed=args.seed)}")
    elif args.command == "warm":
        import json

        from env_server.tools.warm import warm as warm_tasks

        print(json.dumps(warm_tasks(args.tasks, args.task_ids, args.split, args.family, progress=not args.quiet), indent=2))
    elif args.command == "demo":
        from env_server.tools.scripted_demo import main as demo_main

        demo_main()


def byo_command(args: argparse.Namespace) -> None:
    """``build-data --from-sqlite/--from-sql``: every outcome is the summary (exit 0) or one line on stderr: exit 2
    for a wrong command line, 1 for an input that cannot be used (:func:`env_server.tasks.byo.main`), 1 with
    "internal error" for a bug (``DATAOPS_TRACEBACK=1`` shows its traceback), 130 when interrupted."""
    import os
    import sys

    from env_server.tasks.byo import byo_families
    from env_server.tasks.byo import main as byo_main

    def usage(message: str) -> None:
        print(f"python -m env_server build-data: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in byo_families()]
    if unknown or not families:
        usage(f"--families: {', '.join(unknown) or 'none given'}: choose from {', '.join(byo_families())} "
              "(families that can be generated for your own database)")
    if args.from_sqlite and args.dialect:
        usage("--dialect goes with --from-sql (a SQLite file needs none)")
    if args.per_family < 1:
        usage(f"--per-family {args.per_family}: ask for at least 1 task per family")
    if args.dialect:
        from sqlglot.dialects.dialect import Dialect

        try:
            Dialect.get_or_raise(args.dialect)
        except Exception:  # noqa: BLE001 - sqlglot raises ValueError or its own errors for an unknown name
            usage(f"--dialect {args.dialect!r} is not a SQL dialect sqlglot knows: use postgres, mysql or sqlite")
    path = args.from_sqlite or args.from_sql
    try:
        byo_main(path, dialect=(args.dialect or "sqlite") if args.from_sql else None, out=args.out, name=args.name,
                 families=families, per_family=args.per_family, progress=not args.quiet)
    except KeyboardInterrupt:
        print("python -m env_server build-data: interrupted; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # a bug, not the input: one line, and the traceback on request
        if os.environ.get("DATAOPS_TRACEBACK") == "1":
            raise
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:400]
        raise SystemExit(f"internal error while generating tasks for {path} ({detail}); nothing was written. Please "
                         "report it with the command; DATAOPS_TRACEBACK=1 shows the traceback") from None


def _rounds(text: str) -> int:
    """``--rounds``: an integer of at least :data:`env_server.tools.measure.ROUNDS`."""
    from env_server.tools.measure import ROUNDS

    value = int(text)
    if value < ROUNDS:
        raise argparse.ArgumentTypeError(f"at least {ROUNDS} rounds")
    return value


def serve_main(args: argparse.Namespace) -> None:
    import os

    import uvicorn

    from env_server.tasks.registry import load_tasks

    for path in args.tasks:  # fail fast, with the file and line, before any worker starts
        try:
            load_tasks(path)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"--tasks {path}: {exc}") from None
    os.environ["DATAOPS_TASKS"] = os.pathsep.join(str(Path(p).resolve()) for p in args.tasks)
    os.environ["DATAOPS_SESSION_CAP"] = str(args.session_cap)
    os.environ["DATAOPS_SESSION_TTL_S"] = str(args.session_ttl)
    if args.sessions_per_client is not None:
        os.environ["DATAOPS_SESSIONS_PER_CLIENT"] = str(args.sessions_per_client)
    os.environ["DATAOPS_INFLIGHT_PER_CLIENT"] = str(args.inflight_per_client)
    os.environ["DATAOPS_CLONE_MIB"] = str(args.clone_mib)
    if args.clone_mib_per_client is not None:
        os.environ["DATAOPS_CLONE_MIB_PER_CLIENT"] = str(args.clone_mib_per_client)
    os.environ["DATAOPS_BENCHMARK"] = args.benchmark
    if args.client_tokens is not None:
        try:
            tokens = [t.strip() for t in args.client_tokens.read_text().splitlines() if t.strip()]
        except OSError as exc:
            raise SystemExit(f"--client-tokens {args.client_tokens}: {exc}") from None
        if any("," in t for t in tokens):
            raise SystemExit(f"--client-tokens {args.client_tokens}: a token cannot contain ','")
        os.environ["DATAOPS_CLIENT_TOKENS"] = ",".join(tokens)
    if (args.sessions_per_client or 1) < 1 or args.inflight_per_client < 1 or args.clone_mib <= 0 \
            or (args.clone_mib_per_client is not None and args.clone_mib_per_client <= 0):
        raise SystemExit("--sessions-per-client and --inflight-per-client must be at least 1, the --clone-mib "
                         "options above 0")
    if args.workers < 1 or args.replicas < 1:
        raise SystemExit("--workers and --replicas must be at least 1")
    if args.replicas > 1:
        if args.workers > 1:
            raise SystemExit("--replicas starts one-process servers: leave --workers at 1")
        serve_replicas(args)
        return
    os.environ["DATAOPS_WORKERS"] = str(args.workers)
    from env_server.server.serving import NoDelayH11Protocol

    uvicorn.run("env_server.server.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="info", timeout_graceful_shutdown=3, http=NoDelayH11Protocol,
                forwarded_allow_ips=args.forwarded_allow_ips)


def serve_replicas(args: argparse.Namespace) -> None:
    """``--replicas N``: N one-process servers on consecutive ports, stopped together."""
    import signal
    import subprocess
    import sys

    ports = [args.port + i for i in range(args.replicas)]
    procs = []
    for port in ports:
        command = [sys.executable, "-m", "env_server", "serve", "--host", args.host, "--port", str(port),
                   "--session-cap", str(args.session_cap), "--session-ttl", str(args.session_ttl),
                   "--inflight-per-client", str(args.inflight_per_client), "--clone-mib", str(args.clone_mib),
                   "--benchmark", args.benchmark]
        for flag, value in (("--sessions-per-client", args.sessions_per_client),
                            ("--clone-mib-per-client", args.clone_mib_per_client),
                            ("--client-tokens", args.client_tokens),
                            ("--forwarded-allow-ips", args.forwarded_allow_ips)):
            if value is not None:
                command += [flag, str(value)]
        for path in args.tasks:
            command += ["--tasks", str(path)]
        procs.append(subprocess.Popen(command))
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(f"{len(ports)} replicas; clients: DATAOPS_ENV_URL={','.join(f'http://{host}:{p}' for p in ports)}", flush=True)

    def stop(*_: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(proc.poll() is None for proc in procs):
            try:
                procs[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for proc in procs:
            proc.wait(timeout=10)
    failed = [p for proc, p in zip(procs, ports) if proc.returncode not in (0, -signal.SIGTERM, None)]
    if failed:
        raise SystemExit(f"replica(s) on port(s) {', '.join(map(str, failed))} stopped with an error")


if __name__ == "__main__":
    main()

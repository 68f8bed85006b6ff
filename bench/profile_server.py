"""Serve the service in-process under cProfile for a fixed time, then print where time went.

Pair it with one wrk scenario from another shell (same Lua script as run.py), e.g.:

    python bench/profile_server.py --data-dir /tmp/copy --port 8099 --seconds 15 --out read.prof &
    sleep 4; BENCH_MODE=read BENCH_CLIENTS=bench/data/clients-1000/clients.tsv \\
        taskset -c 1 wrk -t1 -c32 -d10s -s bench/wrk/scenario.lua http://127.0.0.1:8099

Only the event-loop thread is profiled: SQLite work on the store's threads shows up as time
waiting in ``select``/``epoll``. Profile a *copy* of a seeded data dir when creating.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from pathlib import Path

import uvicorn

from zorgleefplan.app import create_app
from zorgleefplan.config import Settings


async def serve_for(server: uvicorn.Server, seconds: float) -> None:
    async def stop_later() -> None:
        await asyncio.sleep(seconds)
        server.should_exit = True

    stopper = asyncio.create_task(stop_later())
    await server.serve()
    stopper.cancel()


def profile(data_dir: Path, port: int, seconds: float, out: Path) -> None:
    settings = Settings(data_dir=data_dir, port=port)
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", loop="auto"
    )
    server = uvicorn.Server(config)
    profiler = cProfile.Profile()
    profiler.runcall(asyncio.run, serve_for(server, seconds))
    profiler.dump_stats(out)


def report(out: Path, lines: int) -> None:
    stats = pstats.Stats(str(out))
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="profile the service under load (cProfile)")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--seconds", type=float, default=15.0, help="serve this long, then stop")
    parser.add_argument("--out", type=Path, default=Path("service.prof"))
    parser.add_argument("--lines", type=int, default=40, help="functions to print per ordering")
    args = parser.parse_args(argv)
    profile(args.data_dir, args.port, args.seconds, args.out)
    report(args.out, args.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

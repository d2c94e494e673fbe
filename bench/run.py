"""Run every benchmark and print the tables as markdown.

    python -m bench.run [--quick] [--only overhead,streaming,imports,failover,tail,memory]

``bench/run`` creates the bench virtualenv (with LiteLLM) and calls this.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import sys
import time

from bench import failover, imports, memory, overhead, tail
from bench.clients import litellm_available
from bench.common import Emulator, install_loopback_guard, pin_client

SECTIONS = ("overhead", "streaming", "imports", "failover", "tail", "memory")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls: a smoke run")
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--no-litellm", action="store_true")
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    install_loopback_guard()
    pin_client()
    litellm = litellm_available() and not args.no_litellm
    q = args.quick
    print(f"# llama_router benchmarks, {datetime.date.today()}\n")
    print(f"Machine: {machine()}. Client on CPU 0, emulator on the last CPU, loopback.")
    if not litellm:
        print("LiteLLM is not installed here: its rows are left out (bench/run installs it).")
    print()
    started = time.perf_counter()
    with Emulator() as emu:
        for section in only:
            t = time.perf_counter()
            title, text = {
                "overhead": lambda: (
                    "Overhead: client CPU per call and throughput",
                    asyncio.run(overhead.overhead(emu, 200 if q else 1000, litellm)),
                ),
                "streaming": lambda: (
                    "Streaming: time to first token and CPU per token (concurrency 1)",
                    asyncio.run(overhead.streaming(emu, 100 if q else 400, litellm)),
                ),
                "imports": lambda: (
                    "Import cost (fresh processes)",
                    imports.run(3 if q else 5, litellm),
                ),
                "failover": lambda: (
                    "Failover: from the primary failing to the fallback's first token",
                    asyncio.run(failover.run(emu, 10 if q else 50)),
                ),
                "tail": lambda: (
                    "Tail latency: 5 % of replies ten times slower",
                    asyncio.run(tail.run(emu, 400 if q else 2000)),
                ),
                "memory": lambda: (
                    "Memory: client RSS as requests accumulate (a fresh process)",
                    memory.in_fresh_process(10_000 if q else 100_000),
                ),
            }[section]()
            print(f"## {title}\n\n{text}\n\n({time.perf_counter() - t:.0f} s)\n", flush=True)
    print(f"Total {time.perf_counter() - started:.0f} s. Command: {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()

"""``python -m llama_router.testing.emulator``: the emulator as a separate process."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from llama_router.testing.emulator.provider_emulator import ProviderEmulator
from llama_router.testing.emulator.server import LOOPBACK


def main(argv: list[str] | None = None) -> int:
    """``python -m llama_router.testing.emulator``: serve until SIGTERM or SIGINT.

    Prints one line, ``listening on http://127.0.0.1:PORT``, once it accepts connections."""
    parser = argparse.ArgumentParser(
        prog="python -m llama_router.testing.emulator",
        description="Serve the provider emulator until SIGTERM or SIGINT; drive it through "
        "/_emulator/{behave,script,random,reset,stats}.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (the default)")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument(
        "--no-record", action="store_true", help="keep no request log (counters only)"
    )
    args = parser.parse_args(argv)
    if args.host not in LOOPBACK:
        print(f"error: the emulator only listens on loopback, not {args.host!r}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"error: no such port: {args.port}", file=sys.stderr)
        return 2
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})
        except (OSError, ValueError, AttributeError) as exc:
            print(f"error: cannot pin to CPU {args.cpu}: {exc}", file=sys.stderr)
            return 2
    emulator = ProviderEmulator(host=args.host, port=args.port, record=not args.no_record)
    try:
        asyncio.run(_serve_until_signalled(emulator))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_until_signalled(emulator: ProviderEmulator) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with emulator:
            print(f"listening on {emulator.base_url}", flush=True)
            await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)

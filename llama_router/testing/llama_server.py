"""``python -m llama_router.testing.llama_server``: upstream llama.cpp's own HTTP server
(from the prebuilt ``xllamacpp`` wheel) on 127.0.0.1, serving one GGUF model until it is
sent SIGTERM or SIGINT. :class:`~llama_router.testing.servers.LlamaCppServer` starts it in a
child process, so a test can kill it mid-stream."""

from __future__ import annotations

import argparse
import signal
import threading

__all__ = ["main", "server_params"]


def server_params(
    model_path: str,
    *,
    port: int,
    n_ctx: int,
    n_parallel: int = 1,
    n_threads: int | None = None,
    sleep_idle_seconds: int | None = None,
) -> object:
    """xllamacpp's ``CommonParams`` for a loopback server with /props, /slots, /metrics."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model_path
    params.n_ctx = n_ctx  # shared by the slots: each gets n_ctx / n_parallel
    params.n_parallel = n_parallel
    if n_threads:
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
    params.port = port
    params.hostnames = ["127.0.0.1"]  # loopback only
    params.endpoint_props = True
    params.endpoint_slots = True
    params.endpoint_metrics = True
    if sleep_idle_seconds:  # unload the model after this long idle; /props says is_sleeping
        params.sleep_idle_seconds = sleep_idle_seconds
    return params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m llama_router.testing.llama_server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sleep-idle-seconds", type=int, default=None)
    args = parser.parse_args(argv)
    import xllamacpp

    params = server_params(
        args.model,
        port=args.port,
        n_ctx=args.n_ctx,
        n_parallel=args.parallel,
        n_threads=args.threads,
        sleep_idle_seconds=args.sleep_idle_seconds,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp.Server(params)  # returns once the model is loaded and it listens
    print(server.listening_address, flush=True)
    stop.wait()
    del server


if __name__ == "__main__":
    main()

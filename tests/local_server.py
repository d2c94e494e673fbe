"""A small real HTTP server on 127.0.0.1 for tests that need a socket (docs, examples).

It answers Ollama's native ``/api/chat`` (JSON or NDJSON stream) with a fixed reply, the way
``ollama serve`` shapes it. The provider emulator with fault injection is a separate, larger
piece (``llama_router.testing``, planned).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _final(model: str) -> dict[str, object]:
    return {
        "model": model,
        "created_at": "2026-11-26T12:00:00Z",
        "done": True,
        "done_reason": "stop",
        "total_duration": 174560334,
        "load_duration": 101397084,
        "prompt_eval_count": 11,
        "prompt_eval_duration": 13074791,
        "eval_count": 5,
        "eval_duration": 52479709,
    }


class _OllamaHandler(BaseHTTPRequestHandler):
    reply_words: tuple[str, ...] = ("Hello", " there,", " nice", " to", " meet!")

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length))
        model = body.get("model", "llama3.1:8b")
        if self.path != "/api/chat":
            self.send_error(404)
            return
        if body.get("stream", True):
            self.send_response(200)
            self.send_header("content-type", "application/x-ndjson")
            self.end_headers()
            for word in self.reply_words:
                line = {
                    "model": model,
                    "message": {"role": "assistant", "content": word},
                    "done": False,
                }
                self.wfile.write(json.dumps(line).encode() + b"\n")
            final = _final(model) | {"message": {"role": "assistant", "content": ""}}
            self.wfile.write(json.dumps(final).encode() + b"\n")
            return
        payload = _final(model) | {
            "message": {"role": "assistant", "content": "".join(self.reply_words)}
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def ollama_server() -> Iterator[str]:
    """Serve Ollama's chat API on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OllamaHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


REPLY_TEXT = "".join(_OllamaHandler.reply_words)

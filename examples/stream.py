"""Stream an answer token by token, then print usage and timing figures.

python examples/stream.py "Write a haiku about routers."
"""

from __future__ import annotations

import asyncio
import sys

from llama_router import Deployment, LlamaRouterError, Router, TextDelta

MODEL = "llama-3.1-8b"


async def main(prompt: str) -> int:
    router = Router(
        [
            Deployment(provider="ollama", model=MODEL, keep_alive="10m"),
            Deployment(provider="llamacpp", model=MODEL),
        ]
    )
    async with router:
        try:
            async with router.stream(
                MODEL, [{"role": "user", "content": prompt}], temperature=0.7, max_tokens=200
            ) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        print(event.text, end="", flush=True)
        except LlamaRouterError as error:
            print(f"\nNo answer: {error}", file=sys.stderr)
            return 1
    response = stream.response
    print()
    ttft = response.time_to_first_token_s or 0.0
    speed = response.provider_timings.output_tokens_per_second
    print(
        f"[{response.deployment}] first token {ttft * 1000:.0f} ms, total "
        f"{response.latency_s * 1000:.0f} ms, {response.usage.completion_tokens} tokens"
        + (f", {speed:.1f} tokens/s (provider)" if speed else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(" ".join(sys.argv[1:]) or "Write a haiku about routers.")))

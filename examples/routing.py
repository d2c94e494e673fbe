"""Local first, cloud fallback, with a deadline, a budget and an explanation.

    python examples/routing.py "Explain circuit breakers in one sentence."

Prints the candidate table (what the router would do and why), then asks the question and
prints the route it took. Cloud deployments are added for the keys found in the environment.
"""

from __future__ import annotations

import asyncio
import os
import sys

from llama_router import (
    Budget,
    Deployment,
    LlamaRouterError,
    Router,
    Timeouts,
    local_first,
)

MODEL = "llama-3.1-8b"


def deployments() -> list[Deployment]:
    found = [
        Deployment(provider="ollama", model=MODEL, max_concurrency=4),
        Deployment(provider="llamacpp", model=MODEL, max_concurrency=1),
    ]
    if os.environ.get("GROQ_API_KEY"):
        found.append(Deployment(provider="groq", model=MODEL, rpm=30))
    if os.environ.get("TOGETHER_API_KEY"):
        found.append(Deployment(provider="together", model=MODEL))
    return found


async def main(question: str) -> int:
    messages = [{"role": "user", "content": question}]
    async with Router(
        deployments(),
        policy=local_first(slow_ttft=3.0),
        timeouts=Timeouts(total=60, first_token=15),
        budget=Budget(usd=1.00, period=86_400),
    ) as router:
        print(await router.explain(MODEL, messages, max_tokens=200))
        print()
        try:
            reply = await router.chat(MODEL, messages, max_tokens=200)
        except LlamaRouterError as error:
            print(f"No answer: {error}", file=sys.stderr)
            return 1
    print(reply.text)
    for attempt in reply.route:
        print(
            f"  {attempt.deployment:<28} {attempt.outcome:<9} {attempt.error or '':<26} "
            f"{attempt.elapsed_s * 1000:7.1f} ms"
        )
    return 0


if __name__ == "__main__":
    question = " ".join(sys.argv[1:]) or "Explain circuit breakers in one sentence."
    raise SystemExit(asyncio.run(main(question)))

"""Ask one question, local first: Ollama, then llama.cpp, then every cloud provider whose
key is set. Prints the answer and the route taken.

    python examples/chat.py "Why is the sky blue?"
"""

from __future__ import annotations

import asyncio
import os
import sys

from llama_router import Deployment, LlamaRouterError, Router

MODEL = "llama-3.1-8b"


def deployments() -> list[Deployment]:
    found = [
        Deployment(provider="ollama", model=MODEL),
        Deployment(provider="llamacpp", model=MODEL),
    ]
    if os.environ.get("GROQ_API_KEY"):
        found.append(Deployment(provider="groq", model=MODEL))
    if os.environ.get("TOGETHER_API_KEY"):
        found.append(Deployment(provider="together", model=MODEL))
    return found


async def main(question: str) -> int:
    async with Router(deployments()) as router:
        try:
            reply = await router.chat(
                MODEL, [{"role": "user", "content": question}], max_tokens=200
            )
        except LlamaRouterError as error:
            print(f"No answer: {error}", file=sys.stderr)
            return 1
    print(reply.text)
    for attempt in reply.route:
        outcome = attempt.outcome if attempt.error is None else f"{attempt.error}"
        print(f"  {attempt.deployment:<32} {outcome:<28} {attempt.elapsed_s * 1000:7.1f} ms")
    cost = "unknown" if reply.cost_usd is None else f"${reply.cost_usd:.6f}"
    print(f"  {reply.usage.prompt_tokens} + {reply.usage.completion_tokens} tokens, cost {cost}")
    return 0


if __name__ == "__main__":
    question = " ".join(sys.argv[1:]) or "Say hello in five words."
    raise SystemExit(asyncio.run(main(question)))

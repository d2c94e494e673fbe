"""Check every deployment without generating anything: reachable? model pulled? loaded?

python examples/health.py
"""

from __future__ import annotations

import asyncio

from llama_router import Deployment, Router


async def main() -> None:
    async with Router(
        [
            Deployment(provider="ollama", model="llama-3.1-8b"),
            Deployment(provider="llamacpp", model="llama-3.1-8b"),
        ]
    ) as router:
        for name, report in (await router.health()).items():
            state = "ok  " if report.ok else "DOWN"
            print(f"{state} {name:<28} {report.detail}")


if __name__ == "__main__":
    asyncio.run(main())

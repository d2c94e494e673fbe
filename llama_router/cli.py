"""The ``llama-router`` command.

    llama-router chat "Why is the sky blue?"          # route one request, stream the answer
    llama-router explain "Why is the sky blue?"       # the candidate table, nothing sent
    llama-router health                               # check every deployment
    llama-router demo                                 # the whole thing on a tiny local model

Without ``--config`` the deployments are local-first defaults: Ollama (``OLLAMA_HOST`` or
127.0.0.1:11434), a llama.cpp server (``LLAMACPP_HOST`` or 127.0.0.1:8080), and every cloud
provider whose key is in the environment. Exit codes: 0 ok, 1 no answer, 2 bad configuration
or arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from llama_router.config import POLICIES, RouterConfig, load_config
from llama_router.deployments import Deployment
from llama_router.exceptions import (
    AllDeploymentsFailedError,
    ConfigurationError,
    LlamaRouterError,
    RequestValidationError,
)
from llama_router.providers import provider_names, provider_spec
from llama_router.responses import ChatResponse, TextDelta
from llama_router.router import Router
from llama_router.routing.policy import Policy

__all__ = ["default_deployments", "main", "main_entry"]

DEFAULT_MODEL = "llama-3.1-8b"
#: The policies ``--policy`` can name: those that need no extra setting.
CLI_POLICIES = tuple(name for name, entry in POLICIES.items() if not entry.required)

HOW_TO_FIX = """\
How to fix: start one of these, or point llama-router at what you have:
  - Ollama: `ollama serve`, then `ollama pull llama3.1:8b` (OLLAMA_HOST sets the address)
  - llama.cpp: `llama-server -m model.gguf --port 8080`
  - a cloud provider: set GROQ_API_KEY, TOGETHER_API_KEY or REPLICATE_API_TOKEN
  - or describe your deployments in a TOML file and pass --config FILE
  - or try everything offline first: `llama-router demo`"""


def default_deployments(model: str, env: Mapping[str, str]) -> list[Deployment]:
    """Local-first defaults: Ollama, llama.cpp, then each cloud provider with a key."""
    found = [
        Deployment(provider="ollama", model=model),
        Deployment(provider="llamacpp", model=model),
    ]
    for provider in provider_names():
        spec = provider_spec(provider)
        if spec.key_required and spec.key_env and env.get(spec.key_env):
            found.append(Deployment(provider=provider, model=model))
    return found


def _policy(name: str | None) -> Policy | None:
    return None if name is None else POLICIES[name].factory()


def build_router(args: argparse.Namespace, env: Mapping[str, str]) -> Router:
    """The router described by ``--config`` (or the defaults), with flag overrides."""
    overrides: dict[str, Any] = {"env": env}
    policy = _policy(args.policy)
    if policy is not None:
        overrides["policy"] = policy
    if args.config:
        config: RouterConfig = load_config(args.config)
        return Router.from_config(config, **overrides)
    overrides.setdefault("policy", _policy("local_first"))
    return Router(default_deployments(args.model, env), **overrides)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if args.max_tokens is not None:
        settings["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        settings["temperature"] = args.temperature
    return settings


def _messages(args: argparse.Namespace) -> list[dict[str, str]]:
    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    return messages


def _model(args: argparse.Namespace, router: Router) -> str:
    if args.model_given or args.model in router.models():
        return str(args.model)
    return router.models()[0]


def print_route(response: ChatResponse, out: TextIO) -> None:
    """The attempts, then latency, tokens and cost."""
    print("route:", file=out)
    for attempt in response.route:
        label = attempt.outcome + (" (hedge)" if attempt.hedged else "")
        error = f" {attempt.error}" if attempt.error else ""
        status = f" HTTP {attempt.status_code}" if attempt.status_code else ""
        print(
            f"  {attempt.deployment:<34} {label:<10}{error}{status} "
            f"{attempt.elapsed_s * 1000:.0f} ms",
            file=out,
        )
    ttft = response.time_to_first_token_s
    cost = "unknown (no price)" if response.cost_usd is None else f"${response.cost_usd:.6f}"
    print(
        f"answered by {response.deployment} ({response.provider_model}): "
        f"first token {'-' if ttft is None else f'{ttft * 1000:.0f} ms'}, "
        f"total {response.latency_s * 1000:.0f} ms, "
        f"{response.usage.prompt_tokens}+{response.usage.completion_tokens} tokens, cost {cost}",
        file=out,
    )


async def _chat(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    async with build_router(args, env) as router:
        model = _model(args, router)
        if args.no_stream:
            response = await router.chat(model, _messages(args), **_settings(args))
            print(response.text, file=out)
        else:
            async with router.stream(model, _messages(args), **_settings(args)) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        out.write(event.text)
                        out.flush()
            response = stream.response
            print(file=out)
    print(file=out)
    print_route(response, out)
    return 0


async def _explain(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    async with build_router(args, env) as router:
        model = _model(args, router)
        explanation = await router.explain(model, _messages(args), **_settings(args))
    print(explanation, file=out)
    return 0


async def _health(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    async with build_router(args, env) as router:
        reports = await router.health()
    for name, report in reports.items():
        print(f"{'ok  ' if report.ok else 'DOWN'} {name:<34} {report.detail}", file=out)
    return 0 if any(r.ok for r in reports.values()) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llama-router", description="Route Llama 3 requests across local and cloud engines."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", "-c", help="a TOML or YAML config file")
        p.add_argument(
            "--model", "-m", default=None, help=f"canonical model name (default {DEFAULT_MODEL})"
        )
        p.add_argument("--policy", choices=CLI_POLICIES, help="override the routing policy")

    for name, text in (
        ("chat", "route one request and stream the answer"),
        ("explain", "show the candidates and why, without sending"),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument("prompt")
        p.add_argument("--system", help="a system message")
        p.add_argument("--max-tokens", type=int)
        p.add_argument("--temperature", type=float)
        if name == "chat":
            p.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
        common(p)
    common(commands.add_parser("health", help="check every deployment"))
    demo = commands.add_parser("demo", help="run the main job offline on a tiny local model")
    demo.add_argument("--model-path", help="a real GGUF file to use instead of the tiny model")
    demo.add_argument(
        "--ollama",
        metavar="TAG",
        help="also route to a running Ollama serving TAG (e.g. llama3.1:8b)",
    )
    demo.add_argument("--requests", type=int, default=4, help="requests per policy")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    environ = os.environ if env is None else env
    stdout = sys.stdout if out is None else out
    if hasattr(args, "model"):
        args.model_given = args.model is not None
        args.model = args.model or DEFAULT_MODEL
    try:
        if args.command == "chat":
            return asyncio.run(_chat(args, environ, stdout))
        if args.command == "explain":
            return asyncio.run(_explain(args, environ, stdout))
        if args.command == "health":
            return asyncio.run(_health(args, environ, stdout))
        from llama_router.demo import run_demo

        return asyncio.run(run_demo(args, environ, stdout))
    except (ConfigurationError, RequestValidationError) as error:
        print(f"llama-router: configuration error: {error}", file=sys.stderr)
        return 2
    except AllDeploymentsFailedError as error:
        print(f"llama-router: no answer. {error}", file=sys.stderr)
        if not args.__dict__.get("config"):
            print(HOW_TO_FIX, file=sys.stderr)
        return 1
    except LlamaRouterError as error:
        print(f"llama-router: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main_entry() -> None:
    """Console-script entry point."""
    raise SystemExit(main())

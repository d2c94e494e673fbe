"""``router.explain``: the ranked candidates and why each was chosen, ranked or filtered."""

from __future__ import annotations

from dataclasses import dataclass

from llama_router.routing.context import Candidate, RoutingContext
from llama_router.routing.policy import Decision

__all__ = ["Explanation", "ExplanationRow"]


@dataclass(frozen=True, slots=True)
class ExplanationRow:
    """One deployment's line in :meth:`Router.explain`: its place in the ranking (or why it
    was filtered) and the estimates and health the policy read."""

    deployment: str
    provider: str
    status: str
    """``chosen``, ``fallback #n`` or ``filtered``."""
    reason: str
    est_cost_usd: float | None
    est_latency_s: float | None
    ttft_p95_s: float | None
    success_rate: float | None
    circuit: str
    context_window: int | None = None
    """Tokens per request: set on the deployment, else as the server reported it."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """What the router would do with a request, without sending anything."""

    model: str
    policy: str
    prompt_tokens: int
    output_tokens: int
    budget_remaining_usd: float | None
    rows: tuple[ExplanationRow, ...]

    @property
    def chosen(self) -> str | None:
        """The deployment that would be tried first."""
        return self.rows[0].deployment if self.rows and self.rows[0].status == "chosen" else None

    def __str__(self) -> str:
        head = (
            f"model {self.model!r}, policy {self.policy}, ~{self.prompt_tokens} prompt + "
            f"{self.output_tokens} output tokens"
        )
        if self.budget_remaining_usd is not None:
            head += f", budget left ${self.budget_remaining_usd:.4f}"
        lines = [
            head,
            _row(
                "deployment",
                "status",
                "est. cost",
                "est. time",
                "p95 TTFT",
                "success",
                "circuit",
                "window",
                "why",
            ),
        ]
        for r in self.rows:
            lines.append(
                _row(
                    r.deployment,
                    r.status,
                    _money(r.est_cost_usd),
                    _secs(r.est_latency_s),
                    _secs(r.ttft_p95_s),
                    "-" if r.success_rate is None else f"{r.success_rate:.0%}",
                    r.circuit,
                    "-" if r.context_window is None else str(r.context_window),
                    r.reason,
                )
            )
        return "\n".join(lines)


def _row(*cells: str) -> str:
    widths = (28, 12, 11, 10, 9, 8, 10, 7)
    parts = [c.ljust(w) for c, w in zip(cells, widths, strict=False)]
    return "  ".join([*parts, *cells[len(widths) :]]).rstrip()


def _money(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:.6f}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def explain_decision(
    ctx: RoutingContext, decision: Decision, policy: str, budget_remaining: float | None
) -> Explanation:
    rows: list[ExplanationRow] = []
    for i, c in enumerate(decision.ranked):
        if i == 0:
            status = "chosen"
            reason = (
                "explored: fewer than the minimum measurements"
                if decision.explored == c.name
                else f"best by {policy}"
            )
        else:
            status = f"fallback #{i}"
            reason = f"ranked {i + 1} by {policy}"
        if c.health.quota_low:
            reason += "; quota nearly spent (deprioritised)"
        rows.append(_make(c, status, reason))
    for rejection in decision.rejected:
        rows.append(_make(rejection.candidate, "filtered", rejection.reason))
    return Explanation(
        model=ctx.request.model,
        policy=policy,
        prompt_tokens=ctx.prompt_tokens,
        output_tokens=ctx.output_tokens,
        budget_remaining_usd=budget_remaining,
        rows=tuple(rows),
    )


def _make(c: Candidate, status: str, reason: str) -> ExplanationRow:
    return ExplanationRow(
        deployment=c.name,
        provider=c.provider,
        status=status,
        reason=reason,
        est_cost_usd=c.est_cost,
        est_latency_s=c.est_latency,
        ttft_p95_s=c.health.ttft_p95,
        success_rate=c.health.success_rate,
        circuit=c.health.circuit,
        context_window=c.context_window,
    )

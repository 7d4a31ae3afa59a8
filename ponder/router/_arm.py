"""Running one arm: its samples concurrently (or in adaptive batches), then one answer.

The same aggregators, sample plan and draw loop (:func:`~ponder.aggregators.next_draw`)
the simulator replays decide here, so what the simulator says adaptive sampling costs is
what the live router spends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ponder._menu import Arm
from ponder.aggregators import (
    Aggregate,
    AnswerExtractor,
    BestOfN,
    Clusters,
    SamplePlan,
    extract_answer,
    next_draw,
)
from ponder.router._judge import Judge, Judgement
from ponder.router._llm import CallFailed, Sample


@runtime_checkable
class Verifier(Protocol):
    """Scores a response to a query, higher is better; 0.5 and above reads as "passes".

    A plain function ``(query, response) -> float`` is one (unit tests for code, a reward
    model, a judge model's call). It picks among the samples of ``best_of_n`` arms and, when
    the router has one, its verdict on the final answer can trigger an escalation.
    """

    def __call__(self, query: str, response: str) -> float: ...


SampleCall = Callable[[], Awaitable[Sample]]


@dataclass(frozen=True)
class ArmRun:
    """What one arm produced. ``chosen`` is ``None`` only when every call failed;
    ``judgement`` is set when a judge model picked among the samples."""

    samples: tuple[Sample, ...]
    failures: tuple[CallFailed, ...]
    answers: tuple[str | None, ...]
    aggregate: Aggregate
    chosen: Sample | None
    verifier_score: float | None
    judgement: Judgement | None = None

    @property
    def cost(self) -> float:
        judging = self.judgement.cost if self.judgement is not None else 0.0
        return sum(s.cost for s in self.samples) + judging


async def _draw(call: SampleCall, k: int) -> tuple[list[Sample], list[CallFailed]]:
    results = await asyncio.gather(*(call() for _ in range(k)), return_exceptions=True)
    ok: list[Sample] = []
    failed: list[CallFailed] = []
    for r in results:
        if isinstance(r, Sample):
            ok.append(r)
        elif isinstance(r, CallFailed):
            failed.append(r)
        elif isinstance(r, BaseException):
            raise r
    return ok, failed


async def run_arm(
    arm: Arm,
    call: SampleCall,
    *,
    query: str,
    plan: SamplePlan,
    extract: AnswerExtractor = extract_answer,
    verifier: Verifier | None = None,
    judge: Judge | None = None,
) -> ArmRun:
    """Draw up to ``plan.budget`` samples (at least one) and combine them.

    Adaptive arms draw ``arm.batch`` at a time until ``plan.rule`` stops them; the others
    draw the whole budget at once. A failed call casts no vote; if a whole batch fails the
    arm stops, and if every call failed the run has no answer and the caller falls back.
    ``best_of_n`` arms pick by the verifier when there is one, else by the judge, else (no
    usable verdict) by majority.
    """
    most = max(1, plan.budget)
    samples: list[Sample] = []
    failures: list[CallFailed] = []
    answers: list[str | None] = []
    clusters = Clusters()
    while k := _next(arm, plan, clusters.counts, len(samples) + len(failures), most):
        ok, failed = await _draw(call, k)
        samples.extend(ok)
        failures.extend(failed)
        for s in ok:
            answer = extract(s.content) if s.content else None
            answers.append(answer)
            clusters.add(answer)
        if failed and not ok:
            break
    if not samples:
        empty = Aggregate(answer=None, index=None, agreement=0.0, n=0)
        return ArmRun((), tuple(failures), (), empty, None, None)
    score: float | None = None
    judgement: Judgement | None = None
    agg = clusters.aggregate()  # the majority; kept unless a verdict overrides it
    if arm.aggregation == "best_of_n" and verifier is not None:
        scores = [_score(verifier, query, s) for s in samples]
        agg = BestOfN(lambda i, _a: scores[i]).aggregate(answers)
        score = scores[agg.index if agg.index is not None else 0]
    elif arm.aggregation == "best_of_n" and judge is not None and len(samples) > 1:
        judgement = await judge.pick(query, [s.content or "" for s in samples])
        picked = judgement.index
        if picked is not None:
            agg = BestOfN(lambda i, _a: float(i == picked)).aggregate(answers)
    elif arm.aggregation == "first":
        agg = Aggregate(answers[0], 0, 1.0, 1)
    chosen = samples[agg.index if agg.index is not None else 0]
    if score is None and verifier is not None and chosen.content:
        score = _score(verifier, query, chosen)
    return ArmRun(tuple(samples), tuple(failures), tuple(answers), agg, chosen, score, judgement)


def _next(arm: Arm, plan: SamplePlan, counts: list[int], drawn: int, most: int) -> int:
    """How many to draw next: an adaptive arm asks its plan's rule (the simulator's loop);
    any other draws everything at once."""
    if not arm.adaptive:
        return most if drawn == 0 else 0
    return next_draw(plan.rule, counts, drawn=drawn, budget=most, batch=arm.batch, p=plan.p)


def _score(verifier: Verifier, query: str, sample: Sample) -> float:
    if not sample.content:
        return float("-inf")
    return float(verifier(query, sample.content))

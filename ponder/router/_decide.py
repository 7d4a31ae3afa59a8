"""One routing decision, explained: what ``ponder route`` prints and the router acts on.

The classifier predicts the success of *one sample* of each arm's model. Arms that sample
several times and vote are worth more than that, and adaptive arms usually cost less than
their maximum: :class:`~ponder.policies.VoteModel` turns single-sample success into the
success (and, for adaptive arms, the expected sample count) of the arm as configured, so the
policy weighs a bigger model, more thinking and more samples on one scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from ponder._menu import Menu
from ponder._pricing import estimate_tokens
from ponder.classifiers import (
    ArmProfile,
    DifficultyClassifier,
    SuccessClassifier,
    check_prediction,
)
from ponder.errors import ExtensionError, NoArmFitsError
from ponder.policies import (
    NO_ARM,
    Policy,
    SamplingPolicy,
    VoteModel,
    check_choice,
    choose_by_utility,
    policy_for,
)
from ponder.router._ceiling import Ceiling
from ponder.router._decision import ArmEstimate, Decision, Estimates
from ponder.router._explain import explain
from ponder.router._profiles import resolve_profiles
from ponder.router._request import check_controls

FloatArray = npt.NDArray[np.float64]


_P_GRID = np.linspace(0.0, 1.0, 4097)
"""One-sample success at which adaptive votes are tabulated (see ``Decider._adaptive_vote``)."""


class Decider:
    """Routes single queries against one menu; what does not depend on the query is done once.

    By default the choice is the policy engine's utility rule (:func:`~ponder.policies.
    choose_by_utility`), the same rule the simulator replays, so a decision here is one
    point on the simulated frontier. A ``policy`` replaces it for the first arm: it is
    asked to choose among the arms that fit the ceiling (its index is a column of those,
    see :class:`~ponder.policies.Policy`), and ``lam`` then only ranks the arms escalation
    tries next (each arm's ``utility``). Any :class:`~ponder.classifiers.SuccessClassifier`
    can predict; the packaged :class:`~ponder.classifiers.DifficultyClassifier` also
    matches arms it was not trained on by their price, reasoning or ``like:`` (other
    classifiers are asked by arm label). What an extension returns is checked before it
    is used (:func:`~ponder.classifiers.check_prediction`,
    :func:`~ponder.policies.check_choice`): a bad answer raises
    :class:`~ponder.errors.ExtensionError` naming its class.

    ``sampling`` maps arm labels, or the trained arms they are or are ``like``, to the
    calibrated :class:`~ponder.policies.SamplingPolicy` of adaptive arms (default: the
    classifier's own ``sampling_``, so ``ponder route`` prices votes as the router draws
    them; ``{}``: none): those are priced
    as they will be drawn (:meth:`~ponder.policies.SamplingPolicy.priced`: the samples the
    calibrated rule is expected to draw within this query's budget, and the vote's success
    given the query's predicted one-sample success), so a vote is bought exactly where it
    beats a dearer single call per dollar; other adaptive arms at the Beta rule's expected
    samples.
    """

    def __init__(
        self,
        clf: SuccessClassifier,
        menu: Menu,
        *,
        policy: Policy | None = None,
        votes: VoteModel | None = None,
        adaptive_confidence: float = 0.95,
        sampling: Mapping[str, SamplingPolicy] | None = None,
    ) -> None:
        if not isinstance(clf, SuccessClassifier):
            raise ExtensionError(clf, "predict", "is missing: a classifier needs predict()")
        if policy is not None and not isinstance(policy, Policy):
            raise ExtensionError(policy, "choose", "is missing: a policy needs choose()")
        self.clf = clf
        self.menu = menu
        self.policy = policy
        self.votes = votes if votes is not None else VoteModel()
        self.adaptive_confidence = adaptive_confidence
        if isinstance(clf, DifficultyClassifier):
            self.profiles = resolve_profiles(clf, menu)
            self._asked: Sequence[str | ArmProfile] = self.profiles
        else:
            self.profiles = tuple(
                ArmProfile(
                    a.label, math.nan, math.nan, "classifier", reasoning=a.reasoning_strength
                )
                for a in menu.arms
            )
            self._asked = list(menu.labels)
        self._asked_names = [a if isinstance(a, str) else a.name for a in self._asked]
        # One sample costs (prompt * input price + output * output price) / 1e6, where the
        # output is the arm's thinking budget and expected answer.
        prices = [a.price() for a in menu.arms]
        self._in_price = np.array([p.input for p in prices], dtype=np.float64)
        self._out_price = np.array([p.output for p in prices], dtype=np.float64)
        self._thinking = np.array([a.thinking_tokens for a in menu.arms], dtype=np.float64)
        self._answer = np.array([a.output_tokens for a in menu.arms], dtype=np.float64)
        self._samples = np.array([a.samples for a in menu.arms], dtype=np.float64)
        if sampling is None:  # the classifier's own, as the router's; {} turns them off
            sampling = getattr(clf, "sampling_", None) or {}
        self.sampling = _resolve_sampling(menu, self.profiles, sampling)
        """The calibrated sampling policy of each adaptive arm that has one, by label."""
        self.guard = clf.hull_guard_ if isinstance(clf, DifficultyClassifier) else None
        """The model's :class:`~ponder.policies.HullGuard`, if it has one."""
        self._guard_arms = _guard_arms(self.profiles)
        self._vote_grids: dict[
            tuple[VoteModel, float, int, int], tuple[FloatArray, FloatArray]
        ] = {}

    def _adaptive_vote(
        self, p1: FloatArray, max_n: int, batch: int
    ) -> tuple[FloatArray, FloatArray]:
        """Expected samples and P(right) of an uncalibrated adaptive vote, read off a table
        of the exact walk over a fine grid of one-sample success (made once per setting):
        both are smooth functions of that one number, and walking them per decision took a
        third of a default-menu decision. Interpolation error is below 1e-6."""
        # Keyed by the model itself (not its id, which a new object may reuse): a decider
        # given another vote model or confidence tabulates afresh.
        key = (self.votes, float(self.adaptive_confidence), max_n, batch)
        grid = self._vote_grids.get(key)
        if grid is None:
            grid = self.votes.adaptive(_P_GRID, max_n, self.adaptive_confidence, batch)
            self._vote_grids[key] = grid
        return np.interp(p1, _P_GRID, grid[0]), np.interp(p1, _P_GRID, grid[1])

    def sample_costs(
        self,
        texts: Sequence[str],
        prompt_tokens: Sequence[float] | None = None,
        answer_tokens: int | None = None,
    ) -> FloatArray:
        """Expected USD of one sample of each arm for each query, shape (n, k).

        ``prompt_tokens`` (one per arm, for every query) is the whole request as each arm's
        provider counts it; without it, the query text's length is the estimate. A client's
        ``answer_tokens`` limit below an arm's expected answer shortens that answer."""
        if prompt_tokens is None:
            tokens = np.array([estimate_tokens(t) for t in texts], dtype=np.float64)
            prompt = np.broadcast_to(tokens[:, None], (len(texts), len(self._samples)))
        else:
            row = np.asarray(prompt_tokens, dtype=np.float64)
            prompt = np.broadcast_to(row[None, :], (len(texts), len(self._samples)))
        answer = self._answer if answer_tokens is None else np.minimum(self._answer, answer_tokens)
        output = self._thinking + answer
        out: FloatArray = (prompt * self._in_price + output * self._out_price) / 1e6
        return out

    def expected_costs(self, texts: Sequence[str]) -> FloatArray:
        """Expected USD per arm for each query at each arm's full sample count, (n, k)."""
        return self.sample_costs(texts) * self._samples[None, :]

    def estimate(
        self,
        texts: Sequence[str],
        prompt_tokens: Sequence[float] | None = None,
        answer_tokens: int | None = None,
    ) -> Estimates:
        """Success, cost and samples of every arm, as configured, for each query (costs as
        in :meth:`sample_costs`)."""
        texts = list(texts)
        pred = self.clf.predict(texts, arms=self._asked)
        if type(self.clf) is not DifficultyClassifier:  # the packaged model is not checked:
            # its output is ponder's own, and checking it cost 3-5% of a decision
            pred = check_prediction(self.clf, pred, len(texts), self._asked_names)
        p1 = pred.p_success
        p = p1.copy()
        samples = np.broadcast_to(self._samples, p1.shape).copy()
        budget = samples.astype(np.int64)
        for j, arm in enumerate(self.menu.arms):
            if arm.samples == 1:
                continue
            planned = self.sampling.get(arm.label)
            if arm.adaptive and planned is not None:
                budget[:, j], samples[:, j], p[:, j] = planned.priced(
                    p1[:, j], arm.samples, arm.batch
                )
            elif arm.adaptive:
                samples[:, j], p[:, j] = self._adaptive_vote(p1[:, j], arm.samples, arm.batch)
            else:
                # best_of_n is scored as a vote: a verifier or judge is taken to pick at
                # least as well as the majority, and no better is promised.
                p[:, j] = self.votes.p_vote(p1[:, j], arm.samples)
        per_sample = self.sample_costs(texts, prompt_tokens, answer_tokens)
        return Estimates(
            p_success=p,
            expected_cost=per_sample * samples,
            worst_cost=per_sample * self._samples[None, :],
            expected_samples=samples,
            difficulty=np.asarray(pred.difficulty, dtype=np.float64),
            reasoning_need=pred.reasoning_need,
            p_sample=p1,
            budget=budget,
        )

    def decide(
        self,
        text: str,
        *,
        max_cost: float | None = None,
        lam: float | None = None,
        prompt_tokens: Sequence[int] | None = None,
        answer_tokens: int | None = None,
        serves: Sequence[bool] | None = None,
    ) -> Decision:
        """Pick the arm maximising P(success) - lam * cost / (dearest arm's cost), among
        the arms whose worst-case cost is under the ceiling (and, given ``serves``, one
        flag per menu arm, that can take the request).

        ``prompt_tokens`` (one per menu arm) prices the whole request each arm would be
        sent, which is what the router passes; without it only ``text`` is priced. The
        worst case is the prompt plus each sample's thinking and expected answer (or the
        client's shorter ``answer_tokens``): the router caps the answer at whatever of the
        ceiling is left, so an arm that fits this far is never stopped by the ceiling."""
        lam = self.menu.lam if lam is None else lam
        ceiling = self.menu.max_cost if max_cost is None else max_cost
        check_controls(ceiling, lam)  # NaN and infinity too: they pass a comparison
        est = self.estimate([text], prompt_tokens, answer_tokens)
        p, cost, worst = est.p_success[0], est.expected_cost[0], est.worst_cost[0]
        scale = float(cost.max()) or 1.0
        fits = Ceiling(ceiling).fitting(worst)
        able = np.ones(len(cost), dtype=bool) if serves is None else np.asarray(serves, bool)
        fits &= able
        worst_able = np.where(able, worst, np.inf)
        j = self._choose(p, cost, lam, scale, fits)
        utility = p - lam * cost / scale
        routed = j
        if self.policy is None and j != NO_ARM:
            j = self.guarded(lam, j, fits)
        if j == NO_ARM and (ceiling is None or fits.any()):
            raise NoArmFitsError(f"the policy ({type(self.policy).__name__}) chose no arm")
        if j == NO_ARM:
            raise NoArmFitsError(
                f"no arm fits the ceiling of ${ceiling:.6f}: the cheapest, "
                f"'{self.menu.labels[int(worst_able.argmin())]}', may cost "
                f"${worst_able.min():.6f}"
            )
        need = None if est.reasoning_need is None else float(est.reasoning_need[0])
        tokens = (
            [estimate_tokens(text)] * len(self.profiles)
            if prompt_tokens is None
            else [int(t) for t in prompt_tokens]
        )
        # Plain floats once per column (numpy scalars one by one cost more than the rest).
        p_l, cost_l, utility_l, fits_l = p.tolist(), cost.tolist(), utility.tolist(), fits.tolist()
        able_l = able.tolist()
        worst_l, samples_l = worst.tolist(), est.expected_samples[0].tolist()
        p_sample = est.p_sample[0].tolist() if est.p_sample is not None else None
        budget = est.budget[0].tolist() if est.budget is not None else None
        estimates = tuple(
            ArmEstimate(
                arm=prof.name,
                p_success=p_l[i],
                expected_cost=cost_l[i],
                utility=utility_l[i],
                fits=fits_l[i],
                ability_source=prof.source,
                expected_samples=samples_l[i],
                worst_cost=worst_l[i],
                prompt_tokens=tokens[i],
                p_sample=p_sample[i] if p_sample is not None else math.nan,
                serves=able_l[i],
                budget=int(budget[i]) if budget is not None else 1,
            )
            for i, prof in enumerate(self.profiles)
        )
        return Decision(
            chosen_arm=self.profiles[j].name,
            reason=explain(
                estimates,
                j,
                lam,
                ceiling,
                self._thinks(),
                need,
                self.policy,
                self._guard_note(lam, j, routed),
            ),
            difficulty=float(est.difficulty[0]),
            reasoning_need=need,
            input_tokens=max(tokens),
            lam=lam,
            max_cost=ceiling,
            arms=estimates,
        )

    def guarded(self, lam: float, j: int, fits: npt.NDArray[np.bool_]) -> int:
        """The routed arm ``j`` of one query with the model's hull guard applied at ``lam``
        (see :meth:`apply_guard`; ``fits``, one flag per menu arm)."""
        chosen = np.array([j], dtype=np.int64)
        return int(self.apply_guard(lam, chosen, fits[None, :])[0])

    def apply_guard(
        self, lam: float, chosen: npt.NDArray[np.int64], fits: npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[np.int64]:
        """Routed arms (one per query) with the model's hull guard applied at ``lam``: the
        single arm the guard falls back to, where the model's routing did not beat it out
        of fold (a guess between arms it cannot tell apart is worse than that arm), if it
        is an arm the model was trained on and it fits (``fits``, ``[n, k]``; None: all
        do). The rule :func:`~ponder.simulate.simulate` replays and calibration follows."""
        if self.guard is None:
            return chosen
        return self.guard.apply(lam, chosen, self._guard_arms, fits)

    def _guard_note(self, lam: float, j: int, routed: int) -> str | None:
        if self.guard is None or j == routed:
            return None
        return (
            f"'{self.profiles[j].name}' is the single arm the model's routing did not beat "
            f"out of fold at lam {lam:g}: it cannot tell the arms apart well enough there"
        )

    def _choose(
        self, p: FloatArray, cost: FloatArray, lam: float, scale: float, fits: npt.NDArray[np.bool_]
    ) -> int:
        """The arm's index by the utility rule, or by the router's policy among the arms
        that fit; :data:`~ponder.policies.NO_ARM` when none fits."""
        if self.policy is None:
            return int(choose_by_utility(p[None, :], cost[None, :], lam, scale, fits[None, :])[0])
        idx = np.flatnonzero(fits)
        if idx.size == 0:
            return NO_ARM
        chosen = self.policy.choose(p[None, idx], cost[None, idx])
        k = int(check_choice(self.policy, chosen, 1, idx.size)[0])
        return NO_ARM if k == NO_ARM else int(idx[k])

    def _thinks(self) -> tuple[bool, ...]:
        return tuple(p.reasoning >= 0.5 for p in self.profiles)


def _guard_arms(profiles: Sequence[ArmProfile]) -> dict[str, int]:
    """Menu index of each trained arm (the first arm that is it), for the hull guard: an
    arm only ``like`` a trained one is another model, whose outcomes the guard never saw."""
    out: dict[str, int] = {}
    for i, prof in enumerate(profiles):
        if prof.source == "trained" and prof.residual_arm is not None:
            out.setdefault(prof.residual_arm, i)
    return out


def _resolve_sampling(
    menu: Menu, profiles: Sequence[ArmProfile], sampling: Mapping[str, SamplingPolicy]
) -> dict[str, SamplingPolicy]:
    """Each adaptive arm's policy: under its label, its ``like``, the trained arm its
    profile reads, or its model name, in that order; else the policy for any arm
    (:data:`~ponder.policies.ANY_ARM`), which the packaged model carries."""
    out: dict[str, SamplingPolicy] = {}
    for arm, prof in zip(menu.arms, profiles, strict=True):
        if not arm.adaptive:
            continue
        policy = policy_for(sampling, arm.label, arm.like, prof.residual_arm, arm.model)
        if policy is not None:
            out[arm.label] = policy
    return out


def decide(
    text: str,
    clf: SuccessClassifier,
    menu: Menu,
    *,
    max_cost: float | None = None,
    lam: float | None = None,
) -> Decision:
    """One-off :meth:`Decider.decide`; build a :class:`Decider` to route many queries."""
    return Decider(clf, menu).decide(text, max_cost=max_cost, lam=lam)

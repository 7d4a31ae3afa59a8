"""One routing decision, explained: what ``ponder route`` prints and the router acts on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ponder._menu import Menu
from ponder._pricing import estimate_tokens
from ponder.classifiers import ArmProfile, DifficultyClassifier
from ponder.errors import MenuError, NoArmFitsError
from ponder.policies import NO_ARM, UtilityPolicy


@dataclass(frozen=True)
class ArmEstimate:
    arm: str
    p_success: float
    expected_cost: float
    utility: float
    fits: bool
    ability_source: str


@dataclass(frozen=True)
class Decision:
    chosen: str
    reason: str
    difficulty: float
    input_tokens: int
    lam: float
    max_cost: float | None
    arms: tuple[ArmEstimate, ...]


def resolve_profiles(clf: DifficultyClassifier, menu: Menu) -> tuple[ArmProfile, ...]:
    """Match each menu arm to what the classifier knows: given, borrowed, trained or prior."""
    trained = set(clf.arm_names)
    out: list[ArmProfile] = []
    for arm in menu.arms:
        if arm.ability is not None:
            disc = clf.prior_.discrimination
            out.append(ArmProfile(arm.label, arm.ability, disc, "given"))
        elif arm.like is not None:
            if arm.like not in trained:
                raise MenuError(
                    f"arm '{arm.label}': like '{arm.like}' is not an arm of the model "
                    f"(it knows {sorted(trained)})"
                )
            p = clf.profile(arm.like)
            out.append(
                ArmProfile(arm.label, p.ability, p.discrimination, f"like {arm.like}", arm.like)
            )
        elif arm.label in trained or arm.model in trained:
            p = clf.profile(arm.label if arm.label in trained else arm.model)
            out.append(ArmProfile(arm.label, p.ability, p.discrimination, "trained", p.name))
        else:
            p = clf.profile(arm.label, price_per_mtok=arm.blended_price)
            out.append(ArmProfile(arm.label, p.ability, p.discrimination, "price prior"))
    return tuple(out)


class Decider:
    """Routes single queries against one menu; what does not depend on the query is done once.

    The choice itself is the policy engine's :class:`~ponder.policies.UtilityPolicy`, the same
    rule the simulator replays, so a decision here is one point on the simulated frontier.
    """

    def __init__(self, clf: DifficultyClassifier, menu: Menu) -> None:
        self.clf = clf
        self.menu = menu
        self.profiles = resolve_profiles(clf, menu)
        # Expected cost is affine in the query's input tokens: fixed + per_token * tokens.
        ones = np.ones(1)
        fixed = np.array([a.expected_cost(0 * ones)[0] for a in menu.arms])
        self._per_token = np.array([a.expected_cost(ones)[0] for a in menu.arms]) - fixed
        self._fixed = fixed

    def expected_costs(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Expected USD per arm for each query, shape (n, k)."""
        tokens = np.array([estimate_tokens(t) for t in texts], dtype=np.float64)
        out: npt.NDArray[np.float64] = (
            self._fixed[None, :] + self._per_token[None, :] * tokens[:, None]
        )
        return out

    def decide(
        self, text: str, *, max_cost: float | None = None, lam: float | None = None
    ) -> Decision:
        """Pick the arm maximising P(success) - lam * cost / (dearest arm's cost), among
        the arms under the ceiling."""
        lam = self.menu.lam if lam is None else lam
        ceiling = self.menu.max_cost if max_cost is None else max_cost
        if ceiling is not None and not ceiling > 0:
            raise ValueError("max_cost must be > 0")
        tokens = estimate_tokens(text)
        cost = self.expected_costs([text])[0]
        scale = float(cost.max()) or 1.0
        policy = UtilityPolicy(lam=lam, max_cost=ceiling, cost_scale=scale)
        pred = self.clf.predict([text], arms=self.profiles)
        p = pred.p_success[0]
        j = int(policy.choose(p[None, :], cost[None, :])[0])
        if j == NO_ARM:
            raise NoArmFitsError(
                f"no arm fits the ceiling of ${ceiling:.6f}: the cheapest, "
                f"'{self.menu.labels[int(cost.argmin())]}', is expected to cost "
                f"${cost.min():.6f}"
            )
        fits = np.ones(len(cost), dtype=bool) if ceiling is None else cost <= ceiling
        utility = p - lam * cost / scale
        estimates = tuple(
            ArmEstimate(
                arm=prof.name,
                p_success=float(p[i]),
                expected_cost=float(cost[i]),
                utility=float(utility[i]),
                fits=bool(fits[i]),
                ability_source=prof.source,
            )
            for i, prof in enumerate(self.profiles)
        )
        return Decision(
            chosen=self.profiles[j].name,
            reason=_explain(estimates, j, lam, ceiling),
            difficulty=float(pred.difficulty[0]),
            input_tokens=tokens,
            lam=lam,
            max_cost=ceiling,
            arms=estimates,
        )


def decide(
    text: str,
    clf: DifficultyClassifier,
    menu: Menu,
    *,
    max_cost: float | None = None,
    lam: float | None = None,
) -> Decision:
    """One-off :meth:`Decider.decide`; build a :class:`Decider` to route many queries."""
    return Decider(clf, menu).decide(text, max_cost=max_cost, lam=lam)


def _explain(est: tuple[ArmEstimate, ...], j: int, lam: float, ceiling: float | None) -> str:
    chosen = est[j]
    best_p = max((e for e in est if e.fits), key=lambda e: e.p_success)
    excluded = [e.arm for e in est if not e.fits]
    parts = [
        f"'{chosen.arm}' has the best expected quality minus cost "
        f"({chosen.p_success:.2f} - {lam:g} x relative cost = {chosen.utility:.3f})"
    ]
    if best_p.arm != chosen.arm:
        gain = best_p.p_success - chosen.p_success
        ratio = best_p.expected_cost / max(chosen.expected_cost, 1e-12)
        parts.append(f"'{best_p.arm}' would add {gain:.2f} to P(success) at {ratio:.1f}x the cost")
    if excluded:
        parts.append(f"over the ${ceiling:g} ceiling: {', '.join(excluded)}")
    return "; ".join(parts)

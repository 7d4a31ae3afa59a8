"""Where each menu arm's ability comes from: given in the menu, borrowed from a trained
arm (``like:``), trained, placed on the absolute scale (by the menu's published scores or
the model's own), or read off the price prior; and the warnings for when that prior cannot
tell the menu's arms apart.
"""

from __future__ import annotations

import warnings

from ponder._menu import Arm, Menu
from ponder.classifiers import (
    ArmProfile,
    DifficultyClassifier,
    PublishedScoreError,
    ScaleArm,
    arm_key,
    place_arm,
)
from ponder.errors import MenuError, PriorWarning


def _on_scale(clf: DifficultyClassifier, arm: Arm) -> ScaleArm | None:
    """The arm on the model's absolute scale: placed by the menu's published scores when it
    gives some, else the model's own place for its ``model@setting`` (None: not on it)."""
    if clf.scale_ is None:
        if arm.published:
            raise MenuError(
                f"arm '{arm.label}': published scores need a model with an absolute scale "
                "(the packaged default has one; this model has none)"
            )
        return None
    key = arm_key(arm.model, effort=arm.reasoning_effort, thinking_budget=arm.thinking_budget)
    if arm.published:
        try:
            return place_arm(clf.scale_, key, arm.published)
        except PublishedScoreError as exc:
            raise MenuError(f"arm '{arm.label}': {exc}") from None
    return clf.scale_arm(key)


def resolve_profiles(clf: DifficultyClassifier, menu: Menu) -> tuple[ArmProfile, ...]:
    """Match each menu arm to what the classifier knows: given, borrowed, trained, placed
    on the absolute scale (by the menu's published scores or the model's own), or prior."""
    trained = set(clf.arm_names)
    out: list[ArmProfile] = []
    for arm in menu.arms:
        if arm.ability is not None:
            disc = clf.prior_.discrimination
            out.append(
                ArmProfile(arm.label, arm.ability, disc, "given", reasoning=arm.reasoning_strength)
            )
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
        elif (placed := _on_scale(clf, arm)) is not None:
            out.append(
                ArmProfile(
                    arm.label,
                    placed.knowledge,
                    1.0,
                    placed.source,
                    reasoning=arm.reasoning_strength,
                    scale=placed,
                )
            )
        else:
            p = clf.profile(
                arm.label, price_per_mtok=arm.blended_price, reasoning=arm.reasoning_strength
            )
            out.append(
                ArmProfile(
                    arm.label,
                    p.ability,
                    p.discrimination,
                    "price prior",
                    reasoning=p.reasoning,
                )
            )
    priced = [p.name for p in out if p.source == "price prior"]
    if len(priced) > 1 and clf.prior_.slope <= 0:
        warnings.warn(
            f"arms {', '.join(priced)} are not in the model's training data and its price "
            f"prior is flat (fitted on {clf.prior_.n_arms} priced arms): they get the same "
            "ability and the cheapest will win; train on logs that include them, or set "
            "ability: or like: in the menu",
            PriorWarning,
            stacklevel=3,
        )
    _warn_on_thinking_ties(clf, menu, out)
    return tuple(out)


def _warn_on_thinking_ties(
    clf: DifficultyClassifier, menu: Menu, profiles: list[ArmProfile]
) -> None:
    """Two priced arms of one price that differ only in how much they think get the same
    ability from a model that learned nothing about thinking; the dearer one never wins."""
    if clf.tells_thinking_apart:
        return
    groups: dict[float, list[Arm]] = {}
    for arm, p in zip(menu.arms, profiles, strict=True):
        if p.source == "price prior":
            groups.setdefault(round(arm.blended_price, 9), []).append(arm)
    for arms in groups.values():
        if len({a.reasoning_strength for a in arms}) > 1:
            names = ", ".join(a.label for a in arms)
            warnings.warn(
                f"arms {names} differ only in how much they think, and the model learned no "
                "gain from thinking (its training data has no reasoning arms): they get the "
                "same predicted success and the one that thinks least will always win; train "
                "on logs with reasoning arms, or set ability: or like: in the menu",
                PriorWarning,
                stacklevel=4,
            )

from __future__ import annotations

from pathlib import Path

import pytest

from ponder import Arm, Menu, MenuError
from ponder._thinking import check_thinking, thinking_params


@pytest.mark.parametrize(
    ("arm", "needle"),
    [
        (Arm(model="gpt-4o", reasoning_effort="high"), "does not support thinking"),
        (Arm(model="gpt-5", thinking_budget=4096), "take reasoning_effort"),
        (Arm(model="claude-sonnet-4-5", thinking_budget=512), ">= 1024"),
        (Arm(model="claude-sonnet-4-5", thinking_budget=64000), "exceeds"),
        (Arm(model="gemini/gemini-2.5-flash", thinking_budget=30000), "<= 24576"),
        (Arm(model="gemini-2.5-pro", thinking_budget=64), "cannot think less"),
    ],
)
def test_impossible_thinking_is_refused(arm: Arm, needle: str) -> None:
    with pytest.raises(MenuError, match=needle):
        check_thinking(arm.thinking)


def test_possible_thinking_passes_and_maps_to_provider_parameters() -> None:
    sonnet = Arm(model="claude-sonnet-4-5", thinking_budget=2048, output_tokens=500)
    check_thinking(sonnet.thinking)
    params = thinking_params(sonnet.thinking)
    assert params["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert params["max_tokens"] > 2048  # Anthropic: the budget must be below max_tokens
    gpt5 = Arm(model="gpt-5", reasoning_effort="low")
    check_thinking(gpt5.thinking)
    assert thinking_params(gpt5.thinking) == {"reasoning_effort": "low"}
    flash = Arm(model="gemini/gemini-2.5-flash", thinking_budget=800)
    check_thinking(flash.thinking)  # Gemini has no 1024 floor
    assert thinking_params(Arm(model="gpt-4o").thinking) == {}
    # A model litellm does not know is taken on trust (its prices are given by hand).
    check_thinking(
        Arm(model="my-local", thinking_budget=10, input_price=0, output_price=0).thinking
    )


def test_menu_load_refuses_impossible_thinking(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text("arms:\n  - model: gpt-4o\n    reasoning_effort: high\n")
    with pytest.raises(MenuError, match="gpt-4o does not support thinking"):
        Menu.load(path)


@pytest.mark.parametrize(
    ("arm", "provider", "expected"),
    [
        (
            Arm(model="claude-sonnet-4-5", thinking_budget=2048, output_tokens=400),
            "anthropic",
            {"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 2448},
        ),
        (
            Arm(model="gemini/gemini-2.5-flash", thinking_budget=2048, output_tokens=400),
            "gemini",
            {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}},
        ),
    ],
)
def test_litellm_puts_thinking_in_the_providers_own_parameter(
    arm: Arm, provider: str, expected: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """litellm's own request mapping (offline) turns our parameters into the provider's:
    Anthropic's ``thinking.budget_tokens``, Gemini's ``thinkingConfig.thinkingBudget``."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from litellm.utils import get_optional_params

    check_thinking(arm.thinking)
    model = arm.model.split("/", 1)[-1]
    thinking = thinking_params(arm.thinking)
    params = get_optional_params(model=model, custom_llm_provider=provider, **thinking)
    for key, value in expected.items():
        assert params[key] == value

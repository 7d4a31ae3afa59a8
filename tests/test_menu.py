from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ponder import Arm, Menu, MenuError
from ponder._pricing import lookup_price


def test_yaml_and_toml_menus_load_with_litellm_prices(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "max_cost: 0.01\narms:\n  - model: gpt-4o-mini\n"
        "  - model: openai/gpt-4o\n    name: big\n    samples: 3\n    aggregation: majority\n"
    )
    (tmp_path / "m.toml").write_text(
        'lam = 1.0\n[[arms]]\nmodel = "my-local"\ninput_price = 0.1\noutput_price = 0.2\n'
    )
    y = Menu.load(tmp_path / "m.yaml")
    assert y.labels == ("gpt-4o-mini", "big")
    assert y.max_cost == 0.01
    # Prices come from litellm's table; the provider prefix is optional.
    assert y.arms[1].price() == lookup_price("gpt-4o")
    assert y.arms[0].price().input < y.arms[1].price().input
    t = Menu.load(tmp_path / "m.toml")
    assert t.arms[0].price().output == 0.2 and t.lam == 1.0


def test_expected_cost_counts_tokens_thinking_and_samples() -> None:
    arm = Arm(
        model="x",
        input_price=1.0,
        output_price=10.0,
        output_tokens=100,
        thinking_budget=1000,
        samples=4,
        aggregation="majority",
    )
    cost = arm.expected_cost(np.array([500.0]))
    assert cost[0] == pytest.approx(4 * (500 * 1.0 + 1100 * 10.0) / 1e6)
    menu = Menu(arms=(arm, Arm(model="y", input_price=0.0, output_price=0.0)))
    costs = menu.expected_costs(["a" * 400, "b" * 40])
    assert costs.shape == (2, 2)
    assert costs[0, 0] > costs[1, 0] and costs[0, 1] == 0.0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("arms:\n  - model: no-such-model-anywhere\n", "no price for model 'no-such-model"),
        ("arms:\n  - model: gpt-4o\n  - model: gpt-4o\n", "two arms are named 'gpt-4o'"),
        ("arms:\n  - model: gpt-4o\n    samples: 5\n", "use 'majority' or 'best_of_n'"),
        (
            "arms:\n  - model: o3\n    thinking_budget: 2000\n    reasoning_effort: high\n",
            "not both",
        ),
        ("arms: []\n", "arms"),
        ("arms:\n  - model: gpt-4o\n    colour: red\n", "arms.0.colour"),
        ("arms: [\n", "cannot parse"),
        ("arms:\n  - model: x\n    input_price: 1\n", "set both input_price and output_price"),
        ("max_cost: -1\narms:\n  - model: gpt-4o\n", "max_cost"),
    ],
)
def test_bad_menus_fail_with_one_clear_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text(text)
    with pytest.raises(MenuError) as exc:
        Menu.load(path)
    assert needle in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "m.ini").write_text("x")
    with pytest.raises(MenuError, match="unknown menu format"):
        Menu.load(tmp_path / "m.ini")
    with pytest.raises(MenuError, match="not found"):
        Menu.load(tmp_path / "nope.yaml")


def test_default_menu_is_valid() -> None:
    menu = Menu.default()
    assert len(menu.arms) >= 3
    prices = [a.blended_price for a in menu.arms]
    assert all(p > 0 for p in prices)


def test_pricing_does_not_import_litellm() -> None:
    """litellm takes seconds to import and may fetch prices online; pricing must not."""
    import subprocess
    import sys

    code = (
        "import sys; from ponder import Menu; Menu.default(); "
        "assert 'litellm' not in sys.modules, 'litellm was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_menu_and_settings_load_a_file_by_the_same_verb(tmp_path: Path) -> None:
    from ponder import Settings

    (tmp_path / "m.yaml").write_text("arms:\n  - model: gpt-4o-mini\n  - model: gpt-4o\n")
    menu = Menu.from_file(tmp_path / "m.yaml")
    assert menu.labels == ("gpt-4o-mini", "gpt-4o")
    assert Menu.load(tmp_path / "m.yaml") == menu  # the older name still works
    assert Settings.from_file(tmp_path / "m.yaml").load_menu() == menu
    with pytest.raises(MenuError, match=r"nope\.yaml"):
        Menu.from_file(tmp_path / "nope.yaml")


def test_an_arms_reasoning_strength_needs_no_ml_package() -> None:
    """A config type must not pull in the classifiers (LightGBM, scikit-learn) to say how
    hard an arm thinks: the menu reads its strength from :mod:`ponder._thinking`."""
    import os
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    code = (
        "import sys\n"
        "from ponder._menu import Arm\n"
        "assert Arm(model='o3-mini').reasoning_strength == 1.0\n"
        "assert Arm(model='gpt-4o-mini').reasoning_strength == 0.0\n"
        "assert Arm(model='x', thinking_budget=2000, input_price=1, output_price=1)"
        ".reasoning_strength == 0.5\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('ponder.classifiers'))\n"
        "assert not loaded, loaded\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root
    )
    assert run.returncode == 0, run.stderr


def test_a_router_loads_its_config_by_the_same_verb(tmp_path: Path) -> None:
    from ponder import Router
    from ponder.classifiers import load_default_classifier

    (tmp_path / "menu.yaml").write_text("max_cost: 0.02\narms:\n  - model: gpt-4o-mini\n")
    (tmp_path / "ponder.yaml").write_text("menu: menu.yaml\nlam: 0\n")
    router = Router.from_file(tmp_path / "ponder.yaml", classifier=load_default_classifier())
    try:
        assert router.menu == Menu.from_file(tmp_path / "menu.yaml")
        assert router.settings.lam == 0
    finally:
        router.close()

from __future__ import annotations

from pathlib import Path

import pytest

from ponder import ConfigError, Menu, Router, Settings
from ponder.classifiers import load_default_classifier

MENU = """\
max_cost: 0.02
arms:
  - model: gpt-4o-mini
  - model: gpt-4o
"""


def test_file_with_menu_path_and_env_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "menu.yaml").write_text(MENU)
    cfg = tmp_path / "ponder.yaml"
    cfg.write_text("menu: menu.yaml\nbudget: 5\ntimeout: 30\n")
    monkeypatch.setenv("PONDER_BUDGET", "7.5")
    s = Settings.from_file(cfg)
    assert s.budget == 7.5  # the environment wins over the file
    assert s.timeout == 30
    assert s.menu == (tmp_path / "menu.yaml").resolve()
    menu = s.load_menu()
    assert menu.labels == ("gpt-4o-mini", "gpt-4o")
    assert menu.max_cost == 0.02


def test_inline_menu_in_toml_and_bare_menu_file(tmp_path: Path) -> None:
    cfg = tmp_path / "ponder.toml"
    cfg.write_text(
        'lam = 2.0\n[menu]\nmax_cost = 0.01\n[[menu.arms]]\nmodel = "gpt-4o-mini"\n'
    )
    s = Settings.from_file(cfg)
    assert s.lam == 2.0
    assert isinstance(s.menu, Menu) and s.load_menu().labels == ("gpt-4o-mini",)
    bare = tmp_path / "menu.yaml"
    bare.write_text(MENU)
    assert Settings.from_file(bare).load_menu().max_cost == 0.02


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("budget: -1\n", "budget"),
        ("timeout: soon\n", "timeout"),
        ("no_such_setting: 1\n", "no_such_setting"),
        ("- a\n- b\n", "mapping"),
        ("budget: [\n", "cannot parse"),
        ("menu: {arms: []}\n", "arms"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, match: str) -> None:
    cfg = tmp_path / "ponder.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        Settings.from_file(cfg)
    assert str(cfg) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="not found"):
        Settings.from_file(tmp_path / "nope.yaml")
    monkeypatch.setenv("PONDER_MAX_SAMPLES", "1000")
    with pytest.raises(ConfigError, match="max_samples"):
        Settings.from_env()


def test_router_from_config_uses_the_file(tmp_path: Path) -> None:
    (tmp_path / "menu.yaml").write_text(MENU)
    cfg = tmp_path / "ponder.yaml"
    cfg.write_text("menu: menu.yaml\nlam: 0\n")
    router = Router.from_config(cfg, classifier=load_default_classifier())
    d = router.route("Prove that there are infinitely many primes.")
    assert d.lam == 0 and d.max_cost == 0.02
    # lam 0 buys the most likely success among the arms under the ceiling.
    best = max((e for e in d.arms if e.fits), key=lambda e: e.p_success)
    assert d.chosen_arm == best.arm

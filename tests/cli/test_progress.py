"""Progress of long commands: drawn on a terminal, absent from pipes and with --quiet.

A stand-in classifier (fast, reporting progress the way the real one words it) replaces
``DifficultyClassifier`` where a test is about the display, not about training.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from ponder.cli import app
from ponder.cli._progress import ProgressDisplay, eta_seconds, parse_fold
from ponder.outcomes import OutcomeTable
from ponder.simulate._evaluate import predict_cross_validated
from ponder.simulate._progress import Step
from tests.conftest import synthetic_table, write_table_jsonl

runner = CliRunner()
ESC = "\x1b"


class FakeClassifier:
    """Fits instantly; predicts each arm's training success rate; talks like the real one."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.rates: dict[str, float] = {}
        self.arms_: tuple[str, ...] = ()
        self.metrics_: dict[str, float] = {}
        self.params_: dict[str, str] = {"arm_model": "shared"}
        self.reasoning_ = None

    def fit(
        self, table: OutcomeTable, *, progress: Callable[[str], None] | None = None
    ) -> FakeClassifier:
        say = progress or (lambda _m: None)
        say(f"featurizing {table.n_queries} queries")
        for fold in range(3):
            say(f"cross-validating {{'C': 0.3}} fold {fold + 1}/3")
        say("fitting the final model")
        self.rates = {a: float(np.nanmean(table.scores[:, j])) for j, a in enumerate(table.arms)}
        self.arms_ = table.arms
        self.metrics_ = {
            "n_queries": table.n_queries,
            "n_observations": int(table.measured.sum()),
            "oof_log_loss": 0.5,
            "baseline_log_loss": 0.6,
            "oof_routing_gain_shared": 0.1,
        }
        return self

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(self.rates)

    def predict(self, texts: list[str], arms: list[str]) -> SimpleNamespace:
        row = np.array([self.rates[a] for a in arms])
        return SimpleNamespace(p_success=np.tile(row, (len(texts), 1)))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import ponder.classifiers

    monkeypatch.setattr(ponder.classifiers, "DifficultyClassifier", FakeClassifier)
    yield


@pytest.fixture
def data(tmp_path: Path) -> Path:
    table, _ = synthetic_table(n=120, seed=11)
    return write_table_jsonl(table, tmp_path / "t.jsonl")


def test_parse_fold_takes_the_last_counter_and_names_the_loop() -> None:
    assert parse_fold("cross-validating {'n_rounds': 600} fold 2/5") == (
        "cross-validating {'n_rounds': 600} ",
        2,
        5,
    )
    assert parse_fold("arm-aware trees: fold 3/5") == ("arm-aware trees: ", 3, 5)
    assert parse_fold("fold 1/3: per-arm linear C=0.3: fold 4/5") == (
        "fold 1/3: per-arm linear C=0.3: ",
        4,
        5,
    )
    assert parse_fold("calibrating per-arm slopes") is None
    assert parse_fold("fold 6/5") is None and parse_fold("fold 0/5") is None
    assert parse_fold("unfold 2/3") is None


def test_eta_extrapolates_the_average_step() -> None:
    assert eta_seconds(60.0, 1, 3) == pytest.approx(120.0)
    assert eta_seconds(90.0, 3, 4) == pytest.approx(30.0)
    assert eta_seconds(10.0, 0, 3) is None  # nothing finished: no pace to go by
    assert eta_seconds(10.0, 3, 3) is None and eta_seconds(None, 1, 3) is None
    assert eta_seconds(10.0, 1, None) is None


def test_display_draws_the_stage_bar_with_an_eta() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with ProgressDisplay("", console) as shown:
        assert shown.active
        shown.step(Step("cross-validation", 0, 3, "fold 1/3"))
        shown.say("cross-validating {'C': 0.3} fold 2/5")
        time.sleep(0.2)
        shown.step(Step("cross-validation", 1, 3, "fold 2/3"))
        time.sleep(0.2)  # a refresh happens with one fold done
        text = out.getvalue()
        shown.step(Step("votes", 0, 4, "samples of m0"))
    assert "cross-validation: fold 2/3" in text and "1/3" in text
    assert "cross-validating {'C': 0.3} fold 2/5" in text and "1/5" in text
    assert "eta 0:00:0" in text
    after = out.getvalue()[len(text) :]  # a new stage replaces the finished one's bar
    assert "votes: samples of m0" in after and "0/4" in after
    assert "cross-validation" not in after


def test_without_a_console_nothing_is_drawn() -> None:
    with ProgressDisplay("training", None) as shown:
        assert not shown.active
        shown.step(Step("cross-validation", 1, 3))
        shown.say("fold 1/2")  # no error, no output


def test_cross_validation_reports_folds_as_steps(data: Path) -> None:
    from ponder.outcomes import load_outcomes

    table = load_outcomes(data).table
    steps: list[Step] = []
    lines: list[str] = []
    predict_cross_validated(
        table,
        FakeClassifier,  # type: ignore[arg-type]
        3,
        progress=lines.append,
        steps=steps.append,
    )
    assert [(s.stage, s.done, s.total) for s in steps] == [
        ("cross-validation", 0, 3),
        ("cross-validation", 1, 3),
        ("cross-validation", 2, 3),
        ("cross-validation", 3, 3),
    ]
    assert "featurizing" in lines[0] and not lines[0].startswith("fold")  # bare
    plain: list[str] = []
    predict_cross_validated(table, FakeClassifier, 3, progress=plain.append)  # type: ignore[arg-type]
    assert plain[0].startswith("fold 1/3: training on") and plain[1].startswith("fold 1/3: ")


def test_replay_reports_sampled_arms_as_steps() -> None:
    from ponder.simulate._simulate import simulate
    from tests.simulate.test_simulate import _with_samples

    table = _with_samples()
    steps: list[Step] = []
    simulate(table, np.nan_to_num(table.scores), table.costs.mean(axis=0), steps=steps.append)
    assert [(s.stage, s.done, s.total, s.detail) for s in steps] == [
        ("votes", 0, 1, "samples of cheap"),
        ("votes", 1, 1, "done"),
    ]


def _terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ponder.cli._progress.stderr_is_terminal", lambda: True)


def test_simulate_progress_on_a_terminal(
    fake: None, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _terminal(monkeypatch)
    res = runner.invoke(app, ["simulate", str(data), "--cv", "3"])
    assert res.exit_code == 0, res.output
    assert ESC in res.stderr
    assert "cross-validation: fold 3/3" in res.stderr and "replaying" in res.stderr
    assert "cross-validating {'C': 0.3} fold 2/3" in res.stderr
    assert "AIQ" in res.stdout and ESC not in res.stdout  # results go to stdout, plain


def test_simulate_piped_prints_progress_lines_and_quiet_prints_none(
    fake: None, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "r.json"
    args = ["simulate", str(data), "--cv", "3", "--report", str(report)]
    piped = runner.invoke(app, args)  # CliRunner's stderr is not a terminal
    assert piped.exit_code == 0, piped.output
    assert ESC not in piped.stderr and ESC not in piped.stdout
    # Piped, a long run is not silent: plain progress lines, each with the time since start.
    lines = piped.stderr.splitlines()
    assert lines[0] == f"{data}: 120 queries" and lines[-1] == f"report written to {report}"
    progress = lines[1:-1]
    assert progress and all(re.match(r"\[\d+:\d\d\] \S", line) for line in progress), lines
    assert any(
        line.endswith("cross-validation: fold 3/3: training on 80 queries") for line in progress
    )
    assert any(line.endswith("cross-validation: done (3/3)") for line in progress), lines
    assert any("cross-validating {'C': 0.3} fold 2/3" in line for line in progress)
    assert any(line.endswith("replaying") for line in progress)
    _terminal(monkeypatch)  # --quiet wins even on a terminal
    quiet = runner.invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr.splitlines() == [f"report written to {report}"]
    assert quiet.stdout == piped.stdout  # the results themselves are unchanged


def test_train_progress_and_quiet(
    fake: None, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ponder.classifiers

    monkeypatch.setattr(ponder.classifiers, "save_classifier", lambda *a, **k: None)
    _terminal(monkeypatch)
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert ESC in res.stderr and "training: cross-validating {'C': 0.3} fold 3/3" in res.stderr
    res = runner.invoke(app, ["train", str(data), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert res.stderr == "" and "trained on" in res.stdout


def test_train_piped_prints_progress_lines(
    fake: None, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ponder.classifiers

    monkeypatch.setattr(ponder.classifiers, "save_classifier", lambda *a, **k: None)
    res = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    assert ESC not in res.stderr
    assert re.search(
        r"^\[0:\d\d\] training: cross-validating \{'C': 0.3\} fold 3/3$", res.stderr, re.M
    )

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.outcomes import OutcomeTable
from tests.classifiers.test_task_folds import _tasks_table
from tests.conftest import synthetic_table, write_sampled_jsonl, write_table_jsonl

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    train, _ = synthetic_table(n=400, seed=1)
    test, _ = synthetic_table(n=200, seed=2)
    test = OutcomeTable(
        ids=tuple(f"t{i}" for i in range(test.n_queries)),
        prompts=test.prompts,
        tasks=test.tasks,
        arms=test.arms,
        scores=test.scores,
        costs=test.costs,
        input_tokens=test.input_tokens,
        output_tokens=test.output_tokens,
    )
    return write_table_jsonl(train, root / "train.jsonl"), write_table_jsonl(
        test, root / "test.jsonl"
    )


@pytest.fixture(scope="module")
def model(data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "m"
    res = runner.invoke(app, ["train", str(data[0]), "--out", str(out), "--folds", "3"])
    assert res.exit_code == 0, res.output
    assert "trained on 400 queries" in res.output
    return out


def test_train_writes_a_loadable_model(model: Path) -> None:
    manifest = json.loads((model / "manifest.json").read_text())
    assert [a["name"] for a in manifest["arms"]] == ["weak", "mid", "strong"]
    assert manifest["training"]["sources"] == ["train.jsonl"]
    assert manifest["metrics"]["oof_log_loss"] < manifest["metrics"]["baseline_log_loss"]


def test_simulate_cv_writes_report_and_plot(data: tuple[Path, Path], tmp_path: Path) -> None:
    report, plot = tmp_path / "r.json", tmp_path / "f.png"
    res = runner.invoke(
        app,
        [
            "simulate",
            str(data[0]),
            "--cv",
            "3",
            "--backend",
            "logistic",
            "--report",
            str(report),
            "--plot",
            str(plot),
        ],
    )
    assert res.exit_code == 0, res.output
    r = json.loads(report.read_text())
    assert set(r["arms"]) == {"weak", "mid", "strong"}
    assert {"ponder", "random", "oracle", "cascade", "arm:strong"} <= set(r["policies"])
    assert r["policies"]["ponder"]["points"][0].keys() >= {"cost_per_query", "quality"}
    assert r["summary"]["best_single_arm"] == "strong"
    assert "ponder" in r["summary"]["cost_share_to_match_best_single"]
    # Difficulty is learnable here, so routing must beat random mixing of the arms.
    assert r["policies"]["ponder"]["aiq"] > r["policies"]["random"]["aiq"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ponder" in res.output and "AIQ" in res.output


def test_simulate_saved_model_and_holdout(
    data: tuple[Path, Path], model: Path, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    res = runner.invoke(app, ["simulate", str(data[1]), "--model", str(model), "--report", str(a)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "simulate",
            str(data[0]),
            "--test",
            str(data[1]),
            "--backend",
            "logistic",
            "--report",
            str(b),
        ],
    )
    assert res.exit_code == 0, res.output
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ra["n_queries"] == rb["n_queries"] == 200
    assert ra["arms"] == rb["arms"]  # same test rows, same single arms


def test_simulate_prints_and_reports_sampled_arms(tmp_path: Path) -> None:
    """Samples recorded for one arm add its votes and adaptive sampling to the output."""
    data = write_sampled_jsonl(tmp_path / "sampled.jsonl", n=300, seed=3, extra=6)
    report = tmp_path / "r.json"
    res = runner.invoke(
        app,
        ["simulate", str(data), "--cv", "2", "--backend", "logistic", "--report", str(report)],
    )
    assert res.exit_code == 0, res.output
    assert "samples of weak" in res.output
    for name in ("vote@1", "vote@7", "adaptive@0.9", "mean samples"):
        assert name in res.output
    r = json.loads(report.read_text())
    assert set(r["samples"]) == {"weak"}
    pols = r["samples"]["weak"]["policies"]
    assert pols["vote@1"]["quality"] == pytest.approx(r["arms"]["weak"]["quality"])
    assert pols["vote@7"]["mean_samples"] == 7.0
    assert pols["vote@7"]["quality"] > pols["vote@1"]["quality"]  # agreeing samples help here
    assert pols["adaptive@0.95"]["mean_samples"] < 7.0
    assert pols["vote@7"]["cost_per_query"] == pytest.approx(
        7 * r["arms"]["weak"]["cost_per_query"]
    )


def test_route_explains_with_json(model: Path, tmp_path: Path) -> None:
    menu = tmp_path / "menu.yaml"
    menu.write_text(
        "arms:\n"
        "  - {model: weak, input_price: 0.2, output_price: 0.2}\n"
        "  - {model: strong, input_price: 10, output_price: 10}\n"
    )
    res = runner.invoke(
        app,
        [
            "route",
            "alpha beta?",
            "--model",
            str(model),
            "--menu",
            str(menu),
            "--json",
            "--lam",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["chosen"] == "strong"
    assert [a["arm"] for a in d["arms"]] == ["weak", "strong"]
    res = runner.invoke(app, ["route", "alpha beta?", "--model", str(model), "--menu", str(menu)])
    assert res.exit_code == 0 and "chosen:" in res.output


def test_route_says_how_each_adaptive_arm_stops_and_whose_rule_it_is(
    model: Path, tmp_path: Path
) -> None:
    res = runner.invoke(app, ["route", "Prove that there are infinitely many primes."])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())  # the 80-column table folds long lines
    assert (
        "sampling: gpt-5-nano-minimal-vote stops once the leader cannot be overtaken "
        "(the model's policy for any arm)" in said
    )
    menu = tmp_path / "menu.yaml"
    menu.write_text(
        "arms:\n"
        "  - {model: weak, input_price: 0.2, output_price: 0.2,\n"
        "     samples: 5, aggregation: majority, adaptive: true}\n"
        "  - {model: strong, input_price: 10, output_price: 10}\n"
    )
    res = runner.invoke(app, ["route", "alpha beta?", "--model", str(model), "--menu", str(menu)])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert "sampling: weak stops by the Beta rule at confidence 0.95 (uncalibrated)" in said
    assert "sampling: strong" not in said


def test_route_with_packaged_defaults() -> None:
    res = runner.invoke(app, ["route", "Prove that there are infinitely many primes.", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["chosen"] in {a["arm"] for a in d["arms"]}
    assert all(0.0 <= a["p_success"] <= 1.0 for a in d["arms"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["simulate", "{bad}"], "give --test DATA, --cv K, or --model DIR"),
        (["simulate", "{bad}", "--cv", "3"], "bad.jsonl:2: malformed JSON"),
        (["simulate", "{good}", "--cv", "1"], "--cv must be at least 2"),
        (["simulate", "{good}", "--cv", "3", "--test", "{good}"], "not both"),
        (["train", "{missing}", "--out", "{tmp}/m"], "file not found"),
        (["train", "{good}", "--out", "{tmp}/m", "--backend", "svm"], "--backend"),
        (["train", "{good}", "--out", "{tmp}/m", "--folds-by", "generators"], "--folds-by"),
        (["simulate", "{good}", "--cv", "3", "--folds-by", "tasks!"], "--folds-by"),
        (["simulate", "{good}", "--model", "{tmp}", "--folds-by", "tasks"], "--model trains none"),
        (["route", "  "], "the query is empty"),
        (["route", "hi", "--model", "{tmp}"], "not a ponder model directory"),
        (["route", "hi", "--max-cost", "0.0000000001"], "no arm fits the ceiling"),
        (["import", "nope", "{tmp}", "-o", "{tmp}/x.jsonl"], "unknown importer 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(
    args: list[str], needle: str, data: tuple[Path, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(data[0].read_text().splitlines()[0] + "\n{not json\n")
    subs = {
        "{bad}": str(bad),
        "{good}": str(data[0]),
        "{missing}": str(tmp_path / "no.jsonl"),
        "{tmp}": str(tmp_path),
    }
    argv = [subs.get(a, a.replace("{tmp}", str(tmp_path))) for a in args]
    res = runner.invoke(app, argv)
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert needle in err
    assert len(err.splitlines()) == 1


def test_help_is_light() -> None:
    """`ponder --help` must not pay for the heavy libraries."""
    code = (
        "import sys; from ponder.cli import app; "
        "heavy = {'lightgbm', 'sklearn', 'litellm', 'matplotlib', 'model2vec'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run(
        [sys.executable, "-m", "ponder", "--help"], capture_output=True, text=True, check=True
    )
    for cmd in ("train", "simulate", "route", "import"):
        assert cmd in out.stdout


def test_calibrate_prints_lam_for_a_target(model: Path, tmp_path: Path) -> None:
    menu = tmp_path / "menu.yaml"
    menu.write_text(
        "arms:\n"
        "  - {model: weak, input_price: 0.2, output_price: 0.2}\n"
        "  - {model: strong, input_price: 10, output_price: 10}\n"
    )
    queries = tmp_path / "q.txt"
    queries.write_text("alpha beta?\n\n" + " ".join(["gamma"] * 80) + "?\nzeta eta?\n")
    args = ["calibrate", str(queries), "--model", str(model), "--menu", str(menu)]
    res = runner.invoke(app, [*args, "--target-cost", "1e-9"])
    assert res.exit_code == 0, res.output
    assert "on 3 queries" in res.output and "weak: 100.0%" in res.output
    assert "no lam meets the target" in res.stderr
    res = runner.invoke(app, [*args, "--target-cost", "1"])
    assert "lam: 0 " in res.output and "strong: 100.0%" in res.output
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "exactly one" in res.stderr


def test_import_lists_and_converts(tmp_path: Path) -> None:
    res = runner.invoke(app, ["import", "--list"])
    assert res.exit_code == 0
    for name in ("llmrouter", "routellm-gsm8k", "routerarena", "qwen-math-sampled"):
        assert name in res.output
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "qwen-math-sampled"
    if not shared.is_dir():
        pytest.skip("../shared/data is absent")
    out = tmp_path / "q.jsonl"
    res = runner.invoke(app, ["import", "qwen-math-sampled", str(shared), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote 100 queries" in res.output
    from ponder.outcomes import load_outcomes

    t = load_outcomes(out).table
    assert t.n_queries == 100 and len(t.samples[t.arms[0]][0] or ()) == 8


def test_train_prices_unpriced_arms_from_a_menu(tmp_path: Path) -> None:
    """Without costs the arm model is judged on quality alone; a menu's prices put the cost
    weights of the routing sweep back into the choice."""
    table, _ = synthetic_table(n=300, seed=5)
    rows = [  # no cost and no tokens recorded
        json.dumps(
            {
                "id": table.ids[i],
                "prompt": table.prompts[i],
                "arms": {a: {"score": float(table.scores[i, j])} for j, a in enumerate(table.arms)},
            }
        )
        for i in range(table.n_queries)
    ]
    (tmp_path / "t.jsonl").write_text("\n".join(rows) + "\n")
    menu = tmp_path / "menu.yaml"
    menu.write_text(
        "arms:\n"
        + "".join(
            f"  - {{model: {a}, input_price: {p}, output_price: {p}}}\n"
            for a, p in zip(table.arms, (0.1, 1.0, 10.0), strict=True)
        )
    )
    gains = []
    for extra in ([], ["--menu", str(menu)]):
        out = tmp_path / f"m{len(extra)}"
        args = ["train", str(tmp_path / "t.jsonl"), "--out", str(out), "--folds", "3", *extra]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert "arm model:" in res.output
        assert "on held-out clusters of similar queries" in res.output  # the default folds
        metrics = json.loads((out / "manifest.json").read_text())["metrics"]
        gains.append(metrics["oof_routing_gain_shared"])
    assert gains[0] != pytest.approx(gains[1])  # the sweep saw the menu's prices


def test_version_and_wide_piped_output(tmp_path: Path) -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip().startswith("ponder ")
    menu = tmp_path / "menu.yaml"
    long_name = "an-arm-with-a-name-far-longer-than-eighty-columns-would-ever-leave-room-for-x"
    menu.write_text(
        "arms:\n"
        f"  - {{model: gpt-4o-mini, name: {long_name}}}\n"
        "  - {model: gpt-4o-mini, name: short}\n"
    )
    res = runner.invoke(app, ["route", "What is 2 + 2?", "--menu", str(menu)])
    assert res.exit_code == 0, res.output
    # Piped: 80 columns, a name too long for them folded, not cut.
    assert max(len(line) for line in res.output.splitlines()) <= 80, res.output
    assert long_name in "".join(line.strip() for line in res.output.splitlines())


def test_dollars_are_printed_plainly() -> None:
    from ponder.cli._common import plural, usd

    assert usd(6.4000000000000006e-06) == "$0.0000064"
    assert usd(0.0031) == "$0.0031"
    assert usd(1.25) == "$1.25"
    assert usd(0.0) == "$0"
    assert plural(1, "sample") == "1 sample" and plural(3, "sample") == "3 samples"


def test_simulate_replays_a_menus_vote_arm_and_shows_where_it_was_bought(tmp_path: Path) -> None:
    """A menu arm that votes over the weak arm's recorded samples is a column of its own:
    its quality is the replayed vote's, its cost the samples drawn, and the report says
    where ponder bought it."""
    data = write_sampled_jsonl(tmp_path / "sampled.jsonl", n=300, seed=3, extra=7, scatter=4)
    menu = tmp_path / "menu.yaml"
    menu.write_text(
        "arms:\n"
        "  - model: weak\n    input_price: 0.2\n    output_price: 0.2\n"
        "  - model: weak\n    name: weak-vote8\n    input_price: 0.2\n    output_price: 0.2\n"
        "    samples: 8\n    aggregation: majority\n    adaptive: true\n    batch: 1\n"
        "  - model: mid\n    input_price: 1.0\n    output_price: 1.0\n"
        "  - model: strong\n    input_price: 10.0\n    output_price: 10.0\n",
        encoding="utf-8",
    )
    report = tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "simulate",
            str(data),
            "--cv",
            "2",
            "--backend",
            "logistic",
            "--menu",
            str(menu),
            "--report",
            str(report),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Where ponder bought votes" in res.output and "weak-vote8" in res.output
    r = json.loads(report.read_text())
    assert set(r["arms"]) == {"weak", "mid", "strong", "weak-vote8"}
    one, vote = r["arms"]["weak"], r["arms"]["weak-vote8"]
    assert vote["quality"] > one["quality"]  # agreeing samples help here
    # It stops early: dearer than one call, cheaper than eight.
    assert one["cost_per_query"] < vote["cost_per_query"] < 8 * one["cost_per_query"]


def test_simulate_fits_each_fold_with_the_folds_asked_for(tmp_path: Path) -> None:
    """`ponder simulate --cv K --group-by-task --folds-by tasks`: each outer fold's model
    holds out whole tasks of its own training rows, as `ponder train --folds-by tasks` does."""
    data = write_table_jsonl(_tasks_table(n_tasks=16, per_task=40), tmp_path / "t.jsonl")
    args = ["simulate", str(data), "--cv", "4", "--group-by-task", "--backend", "logistic"]
    said = {}
    for by in ("tasks", "clusters"):
        res = runner.invoke(app, [*args, "--folds-by", by])
        assert res.exit_code == 0, res.output
        said[by] = [line for line in res.stderr.splitlines() if "cross-validating on" in line]
    assert len(said["tasks"]) == 4  # one model per outer fold, 12 training tasks each
    assert all("folds of whole tasks (12 tasks)" in line for line in said["tasks"])
    assert all("folds of clusters of similar queries" in line for line in said["clusters"])

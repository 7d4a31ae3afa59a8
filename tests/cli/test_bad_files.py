"""Every command on bad files: missing, a directory, empty, binary garbage, truncated or
bomb-deep JSONL, menus and configs of the wrong shape, corrupt model directories. Each must
exit non-zero with its error on one line of stderr starting ``error:`` (naming what is
wrong), and no traceback."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from tests.conftest import synthetic_table, write_table_jsonl

runner = CliRunner()
PACKAGED = Path(__file__).resolve().parents[2] / "ponder" / "models" / "default"


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of bad (and a few good) files."""
    root = tmp_path_factory.mktemp("bad")
    table, _ = synthetic_table(n=60, seed=3)
    good = write_table_jsonl(table, root / "good.jsonl")
    first = good.read_text().splitlines()[0]
    garbage = bytes(range(256)) * 8 + os.urandom(1024)
    (root / "adir").mkdir()
    (root / "adir.txt").mkdir()
    (root / "adir.yaml").mkdir()
    files: dict[str, bytes | str] = {
        "empty.jsonl": "",
        "empty.txt": "\n\n",
        "empty.yaml": "",
        "garbage.jsonl": garbage,
        "garbage.csv": garbage,
        "garbage.txt": garbage,
        "garbage.yaml": garbage,
        "truncated.jsonl": first + "\n" + first[: len(first) // 2],
        "deep.jsonl": '{"id": "q", "arms": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
        "list.jsonl": "[1, 2, 3]\n",
        "wrong.jsonl": '{"question": "hi", "answer": 1}\n',
        "nan.jsonl": '{"id": "q", "prompt": "hi", "arms": {"a": {"score": NaN}}}\n',
        "wide.csv": "prompt,a\nhi,not-a-number\n",
        "broken.yaml": "arms: [\n",
        "broken.toml": "arms = [\n",
        "list.yaml": "- 1\n- 2\n",
        "text.yaml": "just words\n",
        "deep.yaml": "arms: " + "[" * 50_000 + "]" * 50_000 + "\n",
        "menu.json": '{"arms": [{"model": "gpt-5-mini"}]}',
        "menu-arms-int.yaml": "arms: 5\n",
        "menu-model-int.yaml": "arms:\n  - model: 5\n",
        "menu-no-arms.yaml": "arms: []\n",
        "menu-unknown-key.yaml": "arms:\n  - model: gpt-5-mini\n    colour: blue\n",
        "menu-inf-cost.yaml": "max_cost: .inf\narms:\n  - model: gpt-5-mini\n",
        "menu-nan-price.yaml": "arms:\n  - {model: mine, input_price: .nan, output_price: 1}\n",
        "menu-samples.yaml": "arms:\n  - model: gpt-5-mini\n    samples: 100000000\n",
        "menu-bomb.yaml": _alias_bomb(),
        "config-unknown.yaml": "bogus: 1\n",
        "config-budget.yaml": "budget: -1\n",
        "config-keys.yaml": "api_keys: sk-abc\n",
        "config-menu.yaml": "menu: {arms: [{modl: x}]}\n",
        "config-model.yaml": "model: not-here\nauth: false\n",
        "config-redis.yaml": "redis_url: not a url\nauth: false\n",
        "config-timeout.yaml": "timeout: .nan\n",
    }
    for name, content in files.items():
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    (root / "model-no-manifest").mkdir()
    bad_manifest = root / "model-bad-manifest"
    bad_manifest.mkdir()
    (bad_manifest / "manifest.json").write_bytes(garbage)
    return root


def _alias_bomb(levels: int = 8) -> str:
    """A "billion laughs" YAML: each level lists the one before nine times (9**8 leaves)."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join([*lines, f"arms: *l{levels - 1}", ""])


CASES: list[tuple[str, str]] = [
    # train and simulate: outcome tables
    ("train {d}/missing.jsonl --out {d}/m", "missing.jsonl: file not found"),
    ("train {d}/adir --out {d}/m", "is a directory"),
    ("train {d}/empty.jsonl --out {d}/m", "no queries"),
    ("train {d}/garbage.jsonl --out {d}/m", "garbage.jsonl:1: malformed JSON"),
    ("train {d}/garbage.csv --out {d}/m", "garbage.csv:1: invalid UTF-8"),
    ("train {d}/truncated.jsonl --out {d}/m", "truncated.jsonl:2: malformed JSON"),
    ("train {d}/deep.jsonl --out {d}/m", "deep.jsonl:1: JSON nested too deeply"),
    ("train {d}/list.jsonl --out {d}/m", "expected a JSON object"),
    ("train {d}/wrong.jsonl --out {d}/m", "wrong.jsonl:1:"),
    ("train {d}/nan.jsonl --out {d}/m", "nan.jsonl:1:"),
    ("train {d}/wide.csv --out {d}/m", "wide.csv:2: field 'a' not a number"),
    ("train {d}/good.jsonl --out {d}/good.jsonl", "exists and is not a directory"),
    ("train {d}/good.jsonl --out {d}/m --seed -1", "--seed"),
    ("simulate {d}/missing.jsonl --cv 2", "missing.jsonl: file not found"),
    ("simulate {d}/adir --cv 2", "is a directory"),
    ("simulate {d}/empty.jsonl --cv 2", "no queries"),
    ("simulate {d}/garbage.jsonl --cv 2", "garbage.jsonl:1:"),
    ("simulate {d}/truncated.jsonl --cv 2", "malformed JSON"),
    ("simulate {d}/deep.jsonl --cv 2", "nested too deeply"),
    ("simulate {d}/good.jsonl --test {d}/garbage.csv", "garbage.csv:1: invalid UTF-8"),
    ("simulate {d}/good.jsonl --cv 2 --menu {d}/garbage.yaml", "garbage.yaml: not UTF-8"),
    ("simulate {d}/good.jsonl --model {d}/model-no-manifest", "not a ponder model directory"),
    ("simulate {d}/good.jsonl --cv 2 --seed -5", "--seed"),
    # route: menus, models, ceilings
    ("route hi --menu {d}/missing.yaml", "missing.yaml: menu file not found"),
    ("route hi --menu {d}/adir.yaml", "adir.yaml: is a directory"),
    ("route hi --menu {d}/empty.yaml", "arms: Field required"),
    ("route hi --menu {d}/garbage.yaml", "garbage.yaml: not UTF-8 text"),
    ("route hi --menu {d}/broken.yaml", "broken.yaml: cannot parse"),
    ("route hi --menu {d}/broken.toml", "broken.toml: cannot parse"),
    ("route hi --menu {d}/deep.yaml", "deep.yaml: cannot parse"),
    ("route hi --menu {d}/list.yaml", "expected a mapping"),
    ("route hi --menu {d}/text.yaml", "expected a mapping"),
    ("route hi --menu {d}/menu.json", "unknown menu format '.json'"),
    ("route hi --menu {d}/menu-arms-int.yaml", "menu-arms-int.yaml: arms"),
    ("route hi --menu {d}/menu-model-int.yaml", "arms.0.model"),
    ("route hi --menu {d}/menu-no-arms.yaml", "at least 1 item"),
    ("route hi --menu {d}/menu-unknown-key.yaml", "colour"),
    ("route hi --menu {d}/menu-inf-cost.yaml", "max_cost"),
    ("route hi --menu {d}/menu-nan-price.yaml", "input_price"),
    ("route hi --menu {d}/menu-samples.yaml", "samples"),
    ("route hi --menu {d}/menu-bomb.yaml", "menu-bomb.yaml: arms"),
    ("route hi --model {d}/model-no-manifest", "not a ponder model directory"),
    ("route hi --model {d}/good.jsonl", "not a ponder model directory"),
    ("route hi --model {d}/model-bad-manifest", "unreadable manifest"),
    ("route hi --max-cost inf", "max_cost must be a finite number"),
    ("route hi --max-cost nan", "max_cost must be a finite number"),
    ("route hi --max-cost -1", "max_cost must be a finite number"),
    ("route hi --lam inf", "lam must be a finite number"),
    ("route hi --lam -1", "lam must be a finite number"),
    # calibrate: query files
    ("calibrate {d}/missing.txt --target-cost 0.01", "missing.txt: file not found"),
    ("calibrate {d}/adir.txt --target-cost 0.01", "adir.txt: is a directory"),
    ("calibrate {d}/empty.txt --target-cost 0.01", "no queries"),
    ("calibrate {d}/garbage.txt --target-cost 0.01", "garbage.txt: not UTF-8 text"),
    ("calibrate {d}/garbage.jsonl --target-cost 0.01", "garbage.jsonl:1:"),
    ("calibrate {d}/truncated.jsonl --target-cost 0.01", "malformed JSON"),
    ("calibrate {d}/good.jsonl --target-cost inf", "target_cost must be a finite number"),
    ("calibrate {d}/good.jsonl --target-cost nan", "target_cost must be a finite number"),
    ("calibrate {d}/good.jsonl --target-quality nan", "target_quality"),
    ("calibrate {d}/good.jsonl --target-cost 0.01 --menu {d}/broken.yaml", "cannot parse"),
    # import: sources
    ("import llmrouter {d}/missing -o {d}/x.jsonl", "not found"),
    ("import llmrouter {d}/adir -o {d}/x.jsonl", "file not found"),
    ("import llmrouter {d}/garbage.txt -o {d}/x.jsonl", "not found"),
    ("import nope {d}/adir -o {d}/x.jsonl", "unknown importer 'nope'"),
    ("import llmrouter {d}/adir", "--out"),
    # serve (and ask): configs; none of these gets as far as listening
    ("serve --config {d}/missing.yaml --port 1", "missing.yaml: config file not found"),
    ("serve --config {d}/adir.yaml --port 1", "adir.yaml: is a directory"),
    ("serve --config {d}/empty.yaml --port 1", "requires API keys"),
    ("serve --config {d}/garbage.yaml --port 1", "garbage.yaml: not UTF-8 text"),
    ("serve --config {d}/broken.yaml --port 1", "broken.yaml: cannot parse"),
    ("serve --config {d}/list.yaml --port 1", "expected a mapping"),
    ("serve --config {d}/config-unknown.yaml --port 1", "bogus"),
    ("serve --config {d}/config-budget.yaml --port 1", "budget"),
    ("serve --config {d}/config-keys.yaml --port 1", "api_keys"),
    ("serve --config {d}/config-menu.yaml --port 1", "arms.0.model"),
    ("serve --config {d}/config-model.yaml --port 1", "not a ponder model directory"),
    ("serve --config {d}/config-redis.yaml --port 1", "Redis URL"),
    ("serve --config {d}/config-timeout.yaml --port 1", "timeout"),
    ("ask hi --config {d}/garbage.yaml", "garbage.yaml: not UTF-8 text"),
    ("ask hi --config {d}/config-menu.yaml", "arms.0.model"),
]


def assert_one_line_error(code: int, stderr: str, needle: str) -> None:
    assert code == 2, (code, stderr)
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    # Progress lines (a table's load summary) may come first; the error is one line, last.
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    assert needle in errors[0], errors[0]


@pytest.mark.parametrize(("command", "needle"), CASES, ids=[c for c, _ in CASES])
def test_bad_files_are_one_line_errors(d: Path, command: str, needle: str) -> None:
    argv = [a.replace("{d}", str(d)) for a in command.split()]
    res = runner.invoke(app, argv)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert_one_line_error(res.exit_code, res.stderr, needle)


def _corrupt_models(root: Path) -> dict[str, Path]:
    """Copies of the packaged model: a booster cut in two (LightGBM trusts the sizes in its
    header and reads past the end: a segmentation fault), and one garbled in the middle, same
    length, under a manifest that records its digest (LightGBM aborts the process)."""
    truncated = root / "truncated"
    shutil.copytree(PACKAGED, truncated)
    booster = (truncated / "booster.txt").read_bytes()
    (truncated / "booster.txt").write_bytes(booster[: len(booster) // 3])
    garbled = root / "garbled"
    shutil.copytree(PACKAGED, garbled)
    manifest = json.loads((garbled / "manifest.json").read_text())
    manifest["files"] = {"booster.txt": "sha256:" + hashlib.sha256(booster).hexdigest()}
    (garbled / "manifest.json").write_text(json.dumps(manifest))
    i = booster.index(b"Tree=3") + 200
    (garbled / "booster.txt").write_bytes(booster[:i] + b"x" * 300 + booster[i + 300 :])
    return {"truncated": truncated, "garbled": garbled}


@pytest.mark.parametrize(
    ("kind", "needle"),
    [("truncated", "truncated or corrupt"), ("garbled", "does not match the digest")],
)
def test_a_corrupt_model_is_an_error_not_a_crash(tmp_path: Path, kind: str, needle: str) -> None:
    """In a subprocess: if the check regressed, LightGBM would kill the test process."""
    model = _corrupt_models(tmp_path)[kind]
    out = subprocess.run(
        [sys.executable, "-m", "ponder", "route", "Is 91 prime?", "--model", str(model)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert_one_line_error(out.returncode, out.stderr, needle)
    assert out.stdout == ""


def test_save_records_digests_that_load_checks(tmp_path: Path) -> None:
    from ponder.classifiers import DifficultyClassifier, load_classifier, save_classifier
    from ponder.errors import ModelArtifactError

    table, _ = synthetic_table(n=120, seed=4)
    clf = DifficultyClassifier(backend="lightgbm", cv_folds=2, seed=0).fit(table)
    out = save_classifier(clf, tmp_path / "m")
    files = json.loads((out / "manifest.json").read_text())["files"]
    booster = (out / "booster.txt").read_bytes()
    assert files["booster.txt"] == "sha256:" + hashlib.sha256(booster).hexdigest()
    assert load_classifier(out).arms_ == clf.arms_
    (out / "booster.txt").write_bytes(booster.replace(b"Tree=1", b"Tree=7", 1))
    with pytest.raises(ModelArtifactError, match="digest"):
        load_classifier(out)

"""What a cold `ponder route` imports: only what explaining a decision uses.

Import time is most of a cold start (litellm alone took seconds, scikit-learn, pulled in by
LightGBM, 0.6 s), so the modules a fresh process ends up with are checked, not timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ponder.cli import app

REPO = Path(__file__).resolve().parents[2]
QUERY = "Prove that there are infinitely many primes."

# Run the CLI as `python -m ponder` would, then report every module the process imported.
_CODE = """
import json, runpy, sys
sys.argv = ["ponder", *json.loads(sys.argv[1])]
try:
    runpy.run_module("ponder", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""

UNUSED_BY_ROUTE = {
    "litellm", "openai", "httpx", "fastapi", "starlette", "uvicorn", "redis", "sklearn",
    "model2vec", "huggingface_hub", "matplotlib",
}  # fmt: skip


def _cold(args: list[str]) -> tuple[str, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _CODE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    )
    modules = json.loads(proc.stderr.rsplit("MODULES ", 1)[1])
    return proc.stdout, set(modules)


def test_route_imports_nothing_it_does_not_use() -> None:
    out, modules = _cold(["route", "--json", QUERY])
    top = {m.split(".")[0] for m in modules}
    assert not top & UNUSED_BY_ROUTE, sorted(top & UNUSED_BY_ROUTE)
    assert "scipy.stats" not in modules
    assert "lightgbm" in modules  # the packaged model's trees: it did predict
    # The same decision as in a process that imported everything first.
    import sklearn  # noqa: F401  (LightGBM with its scikit-learn estimators)

    here = CliRunner().invoke(app, ["route", "--json", QUERY])
    assert here.exit_code == 0, here.output
    assert json.loads(out) == json.loads(here.output)


def test_help_imports_no_model_code() -> None:
    _, modules = _cold(["--help"])
    top = {m.split(".")[0] for m in modules}
    assert not top & (UNUSED_BY_ROUTE | {"lightgbm", "tokenizers", "safetensors"})

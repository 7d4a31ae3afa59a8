"""The newcomer's path: the README's commands on the files of `examples/`, and `ask`, `serve`
and the library answering through `ponder dev-upstream`, with no provider key anywhere.

The dev upstream runs as a real subprocess (`python -m ponder dev-upstream --port 0`), the
proxy too; the examples are copied to a work folder as the README does, with only the dev
upstream's address changed from its default port to the one the test got.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from openai import OpenAI
from typer.testing import CliRunner

from ponder import Menu, Router
from ponder.cli import app
from ponder.cli._dev_upstream import DEFAULT_PORT
from ponder.devserver import answer
from tests.fakes.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}/v1"
KEY = "sk-ponder-team-a"  # examples/ponder.yaml's first demo key, as in the README
runner = CliRunner()


def _env() -> dict[str, str]:
    return {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def _using_it() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Using it")
    begin = text.index("```bash\n", start) + len("```bash\n")
    return text[begin : text.index("```", begin)]


def _queries() -> list[str]:
    lines = (EXAMPLES / "queries.txt").read_text().splitlines()
    return [q for q in lines if q.strip() and not q.startswith("#")]


# --- the files, offline --------------------------------------------------------------------
def test_each_example_says_what_it_is_for() -> None:
    files = sorted(p.name for p in EXAMPLES.iterdir())
    assert files == [
        "llmrouter-LICENSE.txt",
        "llmrouter-SOURCE.md",
        "llmrouter-test.jsonl",
        "llmrouter-train.jsonl",
        "local.yaml",
        "menu.yaml",
        "ponder.yaml",
        "queries.txt",
    ]
    for name in ["local.yaml", "menu.yaml", "ponder.yaml", "queries.txt"]:
        first, second = (EXAMPLES / name).read_text().splitlines()[:2]
        assert first.startswith("# ") and len(first) > 30, name
        assert not second.startswith("#"), name


def test_readme_commands_use_only_files_the_examples_or_earlier_steps_give() -> None:
    block = _using_it()
    assert block.startswith("mkdir -p ../ponder-work && cp examples/* ../ponder-work/ && cd ")
    have = {p.name for p in EXAMPLES.iterdir()}
    outputs = {"-o", "--out", "--report", "--plot"}
    for line in block.splitlines()[1:]:
        words = line.split("#")[0].split()
        assert words and words[0] == "ponder", line
        for before, word in itertools.pairwise(words):
            if before in outputs:
                have.add(word)
            elif re.search(r"\.(yaml|txt|jsonl|json)$|^my-model$", word):
                assert word in have, f"{word!r} in {line!r} is made by no earlier step"
    assert {"llmrouter-train.jsonl", "llmrouter-test.jsonl", "my-model", "report.json"} <= have


def test_readme_menu_is_the_example_and_every_arm_fits_its_ceiling() -> None:
    text = (ROOT / "README.md").read_text()
    start = text.index("**Menus**")
    begin = text.index("```yaml\n", start) + len("```yaml\n")
    shown = yaml.safe_load(text[begin : text.index("```", begin)])
    assert shown == yaml.safe_load((EXAMPLES / "menu.yaml").read_text())
    menu = Menu.load(EXAMPLES / "menu.yaml")
    res = runner.invoke(
        app,
        [
            "route",
            "Prove that there are infinitely many primes.",
            "--menu",
            str(EXAMPLES / "menu.yaml"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    arms = json.loads(res.stdout)["arms"]
    assert [a["arm"] for a in arms] == list(menu.labels)
    assert menu.max_cost is not None
    for a in arms:  # an arm over the menu's own ceiling could never be chosen
        assert a["fits"] and a["worst_cost"] <= menu.max_cost, a


def test_calibrate_reads_the_example_queries() -> None:
    args = ["calibrate", str(EXAMPLES / "queries.txt"), "--menu", str(EXAMPLES / "menu.yaml")]
    res = runner.invoke(app, [*args, "--target-cost", "0.002"])
    assert res.exit_code == 0, res.output
    assert f"on {len(_queries())} queries" in res.stdout  # the comment line is not a query


# --- through the dev upstream ----------------------------------------------------------------
def _wait_for_line(log: Path, proc: subprocess.Popen[str], needle: str) -> str:
    deadline = time.monotonic() + 120  # a guard against a hang, not a timing assertion
    while True:
        for line in log.read_text().splitlines():
            if needle in line:
                return line
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("dev") / "dev-upstream.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ponder", "dev-upstream", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            env=_env(),
        )
    try:
        line = _wait_for_line(log, proc, "dev upstream on ")
        match = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
        assert match, line
        yield match.group()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def work(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's work folder: a copy of examples/, pointed at this test's dev upstream."""
    folder = tmp_path_factory.mktemp("ponder-work")
    for p in EXAMPLES.iterdir():
        shutil.copy(p, folder / p.name)
    local = folder / "local.yaml"
    text = local.read_text()
    assert text.count(DEFAULT_URL) == len(Menu.load(EXAMPLES / "local.yaml").arms)
    local.write_text(text.replace(DEFAULT_URL, upstream))
    return folder


def test_ask_with_the_example_config(work: Path) -> None:
    config = str(work / "ponder.yaml")
    res = runner.invoke(app, ["ask", "Is 2^61 - 1 prime?", "--config", config])
    assert res.exit_code == 0, res.output
    assert "2^61 - 1 = 2305843009213693951, which is prime" in res.stdout
    assert re.search(r"answered by: dev-(small|large)", res.stdout), res.stdout
    res = runner.invoke(app, ["ask", "Is 2^61 + 1 prime?", "--config", config, "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert "which is not prime" in body["choices"][0]["message"]["content"]
    trace = body["ponder"]
    assert trace["answered_by"] in {"dev-small", "dev-large"}
    assert trace["cost"] > 0 and body["usage"]["completion_tokens"] > 0


def test_library_with_the_example_config(work: Path) -> None:
    router = Router.from_config(work / "ponder.yaml")
    out = router.complete([{"role": "user", "content": "What is 17 * 23?"}], max_cost=0.01)
    assert out.content == answer("What is 17 * 23?") and "391" in out.content
    assert out.usage is not None and out.usage.total_tokens > 0
    assert out.ponder.cost > 0 and [a.outcome for a in out.ponder.attempts] == ["accepted"]
    # The example's lam sends some queries to each arm (what local.yaml's comment promises).
    chosen = {router.route(q).chosen_arm for q in _queries()}
    assert chosen == {"dev-small", "dev-large"}


def test_serve_with_the_example_config(work: Path) -> None:
    port = free_port()
    log = work / "serve.log"
    args = ["serve", "--config", str(work / "ponder.yaml"), "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ponder", *args, "--log-level", "warning"],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # start-up guard only
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        client = OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="ponder/auto",
            messages=[{"role": "user", "content": "What is 17 * 23?"}],
            extra_body={"ponder": {"max_cost": 0.01, "lam": 0.5}},
        )
        r = raw.parse()
        assert r.choices[0].message.content == answer("What is 17 * 23?")
        assert r.model_extra is not None
        assert r.model_extra["ponder"]["answered_by"] == raw.headers["x-ponder-arm"]
        assert raw.headers["x-ponder-arm"] in {"dev-small", "dev-large"}
        assert float(raw.headers["x-ponder-cost"]) > 0
        stream = client.chat.completions.create(
            model="ponder/cheap",
            messages=[{"role": "user", "content": "Is 97 prime?"}],
            stream=True,
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == answer("Is 97 prime?") and "is prime" in text
        with pytest.raises(openai.AuthenticationError):
            OpenAI(base_url=f"{url}/v1", api_key="sk-wrong", max_retries=0).models.list()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- the shipped outcome table ---------------------------------------------------------------
def test_the_shipped_sample_is_a_public_table_with_its_licence_and_source() -> None:
    from ponder.outcomes import load_outcomes

    train = load_outcomes(EXAMPLES / "llmrouter-train.jsonl").table
    test = load_outcomes(EXAMPLES / "llmrouter-test.jsonl").table
    assert (train.n_queries, test.n_queries) == (300, 100)
    assert train.arms == test.arms and len(train.arms) == 9
    assert not set(train.prompts) & set(test.prompts)  # the held-out rows are held out
    licence = (EXAMPLES / "llmrouter-LICENSE.txt").read_text()
    assert licence.startswith("MIT License") and "U Lab @UIUC" in licence
    source = (EXAMPLES / "llmrouter-SOURCE.md").read_text()
    assert "https://github.com/ulab-uiuc/LLMRouter" in source
    assert "4e7a796942ce26e9d5f2b93191c7c2585c99c2e3" in source
    assert "llmrouter-LICENSE.txt" in source


def test_the_outcome_table_spec_is_in_the_repository() -> None:
    text = (ROOT / "README.md").read_text()
    assert "../shared/specs" not in text
    spec = ROOT / "docs" / "outcomes.md"
    assert "(docs/outcomes.md)" in text and spec.exists()
    body = spec.read_text()
    for field in ("`id`", "`prompt`", "`task`", "`arms`", "score", "cost", "samples", "CSV"):
        assert field in body, field
    for name in ("llmrouter", "routellm-gsm8k", "routerarena", "qwen-math-sampled"):
        assert f"`{name}`" in body, name  # where the public tables come from


def test_readme_links_point_at_files_that_exist() -> None:
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+?)(?:#[^)]*)?\)", doc.read_text()):
            if not target.startswith("http"):
                assert (doc.parent / target).exists(), f"{doc.name} links {target}"


def test_readme_is_a_newcomers_read() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 300
    heads = re.findall(r"^## (.+)$", text, flags=re.M)
    assert heads[:5] == ["Quick start", "Using it", "As a library", "As a proxy", "More"]
    for doc in ("design", "results", "reliability", "proxy", "outcomes"):
        assert f"(docs/{doc}.md)" in text, doc
    # The figures live in docs/, still marked where bench/ output goes.
    results = (ROOT / "docs" / "results.md").read_text()
    assert "<!-- bench:routing -->" in results and "<!-- bench:latency -->" in results
    assert "bench:" not in text and "| dataset | arms |" not in text


# --- every block of the README, in order, in a fresh work folder -----------------------------
def _blocks() -> list[tuple[str, str]]:
    """Every fenced block of the README: (language, text), in order."""
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)


def _shim(folder: Path) -> dict[str, str]:
    """An environment whose `ponder` is this checkout's, as `pip install .` would give."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "ponder"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ponder "$@"\n')
    shim.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = _env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def _sh(line: str, cwd: Path, env: dict[str, str]) -> str:
    res = subprocess.run(
        ["bash", "-ec", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert res.returncode == 0, f"{line}\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


def _py(code: str, cwd: Path, env: dict[str, str], name: str) -> str:
    (cwd / name).write_text(code)
    return _sh(f'"{sys.executable}" {name}', cwd, env)


def _background(line: str, cwd: Path, env: dict[str, str], needle: str) -> tuple[Any, str]:
    log = cwd / f"bg-{abs(hash(line))}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {line}"], cwd=cwd, env=env, stdout=out, stderr=out, text=True
        )
    return proc, _wait_for_line(log, proc, needle)


def test_every_readme_block_runs_in_order_from_a_fresh_clone(tmp_path: Path) -> None:
    """Quick start, walk-through, library, proxy: each block as a newcomer would run it, in a
    copy of the repository's examples with no ../shared beside it. What a test must change is
    only where a server listens (a free port, not 8000 / 8001) and the install step (done)."""
    clone = tmp_path / "ponder"
    shutil.copytree(EXAMPLES, clone / "examples")
    assert not (tmp_path / "shared").exists()
    env = _shim(tmp_path)
    work = tmp_path / "ponder-work"
    blocks = _blocks()
    handled: list[int] = []
    procs: list[subprocess.Popen[str]] = []
    try:
        for i, (lang, code) in enumerate(blocks):
            first = code.splitlines()[0]
            if lang == "bash" and first.startswith("pip install . && "):
                out = _sh(first.removeprefix("pip install . && "), clone, env)
                assert "chosen:" in out
            elif lang == "bash" and first.startswith("pip install -e '.[dev]' && "):
                cmd = first.removeprefix("pip install -e '.[dev]' && ")
                assert cmd == "python -m pytest"
                out = _sh(f"{cmd} --collect-only -q tests/cli/test_help.py", ROOT, env)
                assert re.search(r"test_help\.py: \d+|\d+ tests? collected", out), out
            elif lang == "bash" and first.startswith("mkdir -p ../ponder-work"):
                _sh(first, clone, env)
                assert (work / "llmrouter-train.jsonl").exists()
                for line in code.splitlines()[1:]:
                    cmd = line.split("  #")[0].strip()
                    if cmd == "ponder dev-upstream &":
                        proc, said = _background(
                            "ponder dev-upstream --port 0", work, env, "dev upstream on "
                        )
                        procs.append(proc)
                        url = re.search(r"http://127\.0\.0\.1:\d+/v1", said)
                        assert url, said
                        local = work / "local.yaml"
                        local.write_text(local.read_text().replace(DEFAULT_URL, url.group()))
                    else:
                        out = _sh(cmd, work, env)
                        # Warnings in the CLI's words, never Python's "file.py:410: ...Warning"
                        assert not re.search(r"\.py:\d+: \w*Warning", out), out
                        if cmd.startswith("ponder ask"):
                            assert "which is prime" in out
                assert {"my-model", "report.json", "frontier.png"} <= {
                    p.name for p in work.iterdir()
                }
            elif lang == "yaml" and first.startswith("max_cost:"):
                (work / "shown-menu.yaml").write_text(code)
                assert (
                    Menu.load(work / "shown-menu.yaml").labels
                    == Menu.load(work / "menu.yaml").labels
                )
            elif lang == "yaml" and first.startswith("menu: menu.yaml"):
                from ponder.router import Settings

                (work / "shown-config.yaml").write_text(code)
                settings = Settings.from_file(work / "shown-config.yaml")
                assert settings.model == work / "my-model"  # made by the walk-through
                settings.load_menu()
            elif lang == "python" and "Router.from_config" in code:
                assert "await " not in code.split("async def")[0]  # runs in a file
                out = _py(code, work, env, "library.py")
                assert out.count("2305843009213693951, which is prime") == 2, out
            elif lang == "python" and "DifficultyClassifier" in code:
                assert _py(code, work, env, "pieces.py").strip()
            elif lang == "bash" and first.startswith("ponder serve"):
                port = free_port()
                cmd = first.split("  #")[0].strip().removesuffix("&").strip()
                assert "--port 8000" in cmd
                proc, said = _background(
                    cmd.replace("--port 8000", f"--port {port}"), work, env, "listening on"
                )
                procs.append(proc)
                assert f"http://127.0.0.1:{port}/v1" in said
                served = port
            elif lang == "python" and "from openai import OpenAI" in code:
                shown = code.replace("localhost:8000", f"127.0.0.1:{served}")
                assert shown != code
                out = _py(shown, work, env, "client.py")
                assert "which is prime" in out and re.search(r"dev-(small|large)", out)
            else:
                continue
            handled.append(i)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
    unhandled = [blocks[i][1].splitlines()[0] for i in range(len(blocks)) if i not in handled]
    assert not unhandled, f"README blocks no test runs: {unhandled}"

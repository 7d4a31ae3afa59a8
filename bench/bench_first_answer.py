"""Time to a first answer from a fresh process: `ponder ask`, and the library's first call,
against `ponder dev-upstream` (issue 23: under 1.5 s wall on an idle machine).

Starts `ponder dev-upstream` on a free loopback port, points a copy of
``examples/ponder.yaml`` (and its ``local.yaml``) at it, then times, in fresh
subprocesses, round after round in turn (so a busy machine slows all alike):

  - ``python -c pass``: the interpreter alone, the floor;
  - ``ponder --help``: the CLI's start;
  - ``python -c "import litellm"``: the baseline, with litellm's packaged price table
    (``LITELLM_LOCAL_MODEL_COST_MAP=True``, so no network try is timed);
  - litellm's own first answer: ``import litellm`` then one ``litellm.completion`` to the
    dev upstream, the floor for any answer that goes through litellm in a fresh process;
  - ``ponder ask "Is 2^61 - 1 prime?" --config ponder.yaml``, as a user runs it (the
    variable above unset);
  - the library's first request in a fresh process: ``from ponder import Router``,
    ``Router.from_config(...)``, ``router.complete(...)``, each phase timed inside.

Prints the median and the fastest wall time of each, and each as a multiple of litellm's
import: on a shared machine absolute times drift, the multiple is the figure to compare.
Every answer is checked (``ask`` must print that 2^61 - 1 is prime).

    python bench/bench_first_answer.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEFAULT_URL = "http://127.0.0.1:8001/v1"  # where examples/local.yaml looks for it
QUERY = "Is 2^61 - 1 prime?"
ANSWER = "which is prime"
TARGET = 1.5

LITELLM_CALL = """
import sys, litellm
out = litellm.completion(model="hosted_vllm/dev-small", api_base=sys.argv[1],
                         messages=[{"role": "user", "content": sys.argv[2]}])
assert sys.argv[3] in out.choices[0].message.content, out
"""

LIBRARY = """
import json, sys, time
t0 = time.perf_counter()
from ponder import Router
t1 = time.perf_counter()
router = Router.from_config(sys.argv[1])
t2 = time.perf_counter()
out = router.complete(sys.argv[2])
t3 = time.perf_counter()
assert out.content and sys.argv[3] in out.content, out.content
print(json.dumps({"import ponder": t1 - t0, "Router.from_config": t2 - t1,
                  "first complete": t3 - t2}))
"""


def _env(*, local_prices: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if local_prices:
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return env


@contextmanager
def dev_upstream(work: Path) -> Iterator[str]:
    """`ponder dev-upstream` on a free port (``--port 0``), until the block ends; its URL."""
    log = work / "dev-upstream.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ponder", "dev-upstream", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=_env(local_prices=True),
        )
    try:
        deadline = time.monotonic() + 120
        while not (match := re.search(r"http://127\.0\.0\.1:\d+/v1", log.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"dev upstream did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield match.group()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def work_folder(work: Path, url: str) -> Path:
    """The example config, its arms pointed at ``url``; the config's path."""
    for name in ("ponder.yaml", "local.yaml"):
        shutil.copy(EXAMPLES / name, work / name)
    local = work / "local.yaml"
    local.write_text(local.read_text().replace(DEFAULT_URL, url))
    return work / "ponder.yaml"


def timed(cmd: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Wall seconds of one fresh process, start to exit, and its standard output."""
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr}")
    return seconds, res.stdout


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="rounds (each runs every command once)")
    args = ap.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="ponder-first-answer-") as tmp:
        work = Path(tmp)
        with dev_upstream(work) as url:
            config = str(work_folder(work, url))
            user, local = _env(local_prices=False), _env(local_prices=True)
            commands: dict[str, tuple[list[str], dict[str, str]]] = {
                "python -c pass": ([py, "-c", "pass"], user),
                "ponder --help": ([py, "-m", "ponder", "--help"], user),
                "import litellm (baseline)": ([py, "-c", "import litellm"], local),
                "litellm alone: first answer": (
                    [py, "-c", LITELLM_CALL, url, QUERY, ANSWER],
                    local,
                ),
                "ponder ask": ([py, "-m", "ponder", "ask", QUERY, "--config", config], user),
                "library: first answer": ([py, "-c", LIBRARY, config, QUERY, ANSWER], user),
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            phases: dict[str, list[float]] = {}
            for r in range(args.runs + 1):  # round 0 warms the file cache, and is not kept
                for name, (cmd, env) in commands.items():
                    seconds, out = timed(cmd, env, work)
                    if name == "ponder ask" and ANSWER not in out:
                        raise SystemExit(f"ponder ask did not answer: {out}")
                    if r == 0:
                        continue
                    times[name].append(seconds)
                    if name.startswith("library"):
                        for phase, s in json.loads(out.splitlines()[-1]).items():
                            phases.setdefault(phase, []).append(s)
                print(f"round {r}/{args.runs} done", file=sys.stderr, flush=True)
    base = statistics.median(times["import litellm (baseline)"])
    print(f"\nFresh processes against `ponder dev-upstream`, {args.runs} rounds, wall seconds:\n")
    print(f"{'':28s} {'median':>7s} {'fastest':>8s} {'x litellm import':>17s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:28s} {med:7.2f} {min(ts):8.2f} {med / base:17.2f}")
    print("\nThe library's first answer, by phase (medians, inside the process):")
    for phase, ts in phases.items():
        print(f"  {phase:26s} {statistics.median(ts):7.2f}")
    ask = statistics.median(times["ponder ask"])
    verdict = "met" if ask < TARGET else "not met"
    print(
        f"\nponder ask: {ask:.2f} s, target under {TARGET} s on an idle machine: {verdict} "
        f"here; litellm's import alone takes {base:.2f} s "
        f"(load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)."
    )


if __name__ == "__main__":
    main()

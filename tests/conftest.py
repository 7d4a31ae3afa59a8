from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ponder.outcomes import OutcomeTable
from tests.fakes.redis_server import RedisCluster, RedisSentinels, RedisServer

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "sigma",
]


def synthetic_table(n: int = 600, seed: int = 0) -> tuple[OutcomeTable, np.ndarray]:
    """Queries whose true difficulty grows with their length; three arms of known ability.

    Returns the table and the true P(success) matrix it was sampled from.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 120, size=n)
    prompts = tuple(" ".join(rng.choice(WORDS, size=int(m))) + "?" for m in lengths)
    difficulty = (np.log(lengths) - np.log(lengths).mean()) * 2.0
    ability = np.array([-1.0, 0.0, 1.5])
    p = 1 / (1 + np.exp(-(ability[None, :] - difficulty[:, None])))
    scores = (rng.random(p.shape) < p).astype(float)
    price = np.array([0.2, 1.0, 10.0])  # USD per million tokens, rising with ability
    in_tok = np.full((n, 3), 100.0)
    out_tok = np.full((n, 3), 100.0)
    costs = (in_tok + out_tok) * price[None, :] / 1e6
    table = OutcomeTable(
        ids=tuple(f"q{i}" for i in range(n)),
        prompts=prompts,
        tasks=tuple("long" if m > 60 else "short" for m in lengths),
        arms=("weak", "mid", "strong"),
        scores=scores,
        costs=costs,
        input_tokens=in_tok,
        output_tokens=out_tok,
    )
    return table, p


@pytest.fixture(scope="session")
def synthetic() -> tuple[OutcomeTable, np.ndarray]:
    return synthetic_table()


def write_table_jsonl(table: OutcomeTable, path: Path) -> Path:
    """Write a synthetic table as canonical JSONL (what users hand to the CLI)."""
    from ponder.outcomes import ArmOutcome, OutcomeRow, write_jsonl

    rows = [
        OutcomeRow(
            id=table.ids[i],
            prompt=table.prompts[i],
            task=table.tasks[i] or None,
            arms={
                a: ArmOutcome(
                    score=float(table.scores[i, j]),
                    cost=float(table.costs[i, j]),
                    input_tokens=float(table.input_tokens[i, j]),
                    output_tokens=float(table.output_tokens[i, j]),
                )
                for j, a in enumerate(table.arms)
                if not np.isnan(table.scores[i, j])
            },
        )
        for i in range(table.n_queries)
    ]
    write_jsonl(rows, path)
    return path


def write_sampled_jsonl(path: Path, n: int, seed: int, extra: int, scatter: int = 0) -> Path:
    """The synthetic table with recorded samples for its ``weak`` arm: the first sample is
    the table's outcome, then ``extra`` more that agree with it 80% of the time. Wrong
    answers are all ``"wrong"``, or spread over ``scatter`` distinct ones."""
    from ponder.outcomes import ArmOutcome, OutcomeRow, Sample, write_jsonl

    table, _ = synthetic_table(n=n, seed=seed)
    rng = np.random.default_rng(0)

    def wrong() -> str:
        return f"wrong{rng.integers(scatter)}" if scatter else "wrong"

    rows = []
    for i in range(table.n_queries):
        arms = {}
        for j, a in enumerate(table.arms):
            first = bool(table.scores[i, j])
            samples = None
            if a == "weak":
                rest = rng.random(extra) < (0.8 if first else 0.2)
                samples = [
                    Sample(answer="right" if r else wrong(), score=float(r)) for r in [first, *rest]
                ]
            arms[a] = ArmOutcome(score=float(first), cost=float(table.costs[i, j]), samples=samples)
        rows.append(OutcomeRow(id=table.ids[i], prompt=table.prompts[i], arms=arms))
    write_jsonl(rows, path)
    return path


@pytest.fixture(scope="session", autouse=True)
def litellm_offline() -> Iterator[None]:
    """litellm reads its price table from the package, not the network (no test may
    download anything), whichever test imports it first."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        yield


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh, empty redis-server per test (tests may stop and restart it)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed; apt-get install redis-server")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_cluster() -> Iterator[RedisCluster]:
    """A fresh Redis Cluster on loopback: 3 masters, 1 replica each (six redis-server
    processes joined by ``redis-cli --cluster create``)."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server and redis-cli are not installed; apt-get install redis-server")
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def redis_sentinels() -> Iterator[RedisSentinels]:
    """A fresh master, its replica and three sentinels (``redis-server --sentinel``)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed; apt-get install redis-server")
    with RedisSentinels() as sentinels:
        yield sentinels
SHARED_REASON = (
    "need the public data folder ../shared/data beside the repository, absent here "
    "(what it holds and where it comes from: docs/outcomes.md)"
)


def skip_reason(report: pytest.TestReport) -> str:
    """Why a test skipped, in words that group: every flavour of "shared data not found at
    <path>" is one reason, the data folder being absent."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ").strip()
    return SHARED_REASON if "shared" in reason.lower() else reason


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests skipped and why, also without ``-rs``: a fresh clone without
    ../shared/data skips the data-driven tests, and should be told so, not left guessing."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if r.skipped]
    if not skipped:
        return
    reasons = Counter(skip_reason(r) for r in skipped)
    terminalreporter.write_sep("-", f"{len(skipped)} skipped, and why")
    for reason, n in reasons.most_common():
        terminalreporter.write_line(f"{n:5d}  {reason}")

"""Bad input against the proxy: how many cases were tried, and what broke.

Starts the proxy of the test suite in this process (uvicorn on loopback, auth on, two arms on
``tests.fakes.upstream.FakeUpstream``, which answers both) and runs:

- **schemathesis** from the proxy's own ``/openapi.json``: for each operation, positive cases
  (valid by the schema; a valid request may still be refused: 400 when nothing fits the
  ceiling or there is no user text, 404 for an unknown model) and negative cases (schema
  violations, which must be refused), each answer put through schemathesis's checks (no
  server error, documented status, content type, headers and body schema, negative data
  rejected, auth not ignored, other methods refused) and one of ours: every non-2xx carries
  an OpenAI error body. After each operation and mode a valid request must still succeed;
- the **hand-made cases** of ``tests/proxy/fuzz_cases.py`` (malformed JSON, wrong types,
  NaN and absurd ceilings, parser bombs, invalid UTF-8, oversized and lying bodies, a slow
  client, bad auth...), each followed by a valid request;
- a **slow client** trickling its body while others send valid requests.

Prints markdown tables. Exits non-zero when anything failed.

    python bench/bench_fuzz.py                    # 300 examples per operation and mode
    python bench/bench_fuzz.py --examples 1000 --seed 7
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.proxy.fuzz_cases import CASES
from tests.proxy.fuzzing import (
    Outcome,
    Tally,
    Target,
    fuzz_schema,
    running_proxy,
    send,
    slow_client_and_others,
    valid_request_ok,
)


def schema_tables(tally: Tally) -> None:
    print("\n### schemathesis, per operation and mode\n")
    print("| operation | mode | cases | answers | cases failing a check | 5xx | next valid |")
    print("|---|---|---:|---|---:|---:|---|")
    for (op, mode), n in sorted(tally.cases.items()):
        answers = ", ".join(
            f"{status}×{count}"
            for (o, m, status), count in sorted(tally.statuses.items())
            if (o, m) == (op, mode)
        )
        fives = sum(
            c for (o, m, s), c in tally.statuses.items() if (o, m) == (op, mode) and s >= 500
        )
        ok = "ok" if tally.recovered.get((op, mode)) else "FAILED"
        failed = tally.failed_cases[(op, mode)]
        print(f"| {op} | {mode} | {n} | {answers} | {failed} | {fives} | {ok} |")
    for (op, mode), ok in sorted(tally.recovered.items()):
        if (op, mode) not in tally.cases:
            print(f"| {op} | {mode} | 0 (nothing to negate) | | | | {'ok' if ok else 'FAILED'} |")
    print("\n### schemathesis, per check\n")
    print("| operation | check | runs | failures |")
    print("|---|---|---:|---:|")
    for (op, check), runs in sorted(tally.checks.items()):
        print(f"| {op} | {check} | {runs} | {len(tally.failures.get((op, check), []))} |")
    for (op, check), found in sorted(tally.failures.items()):
        print(
            f"\n{op} · {check}: {len(found)} failure(s); the first:\n\n```\n{found[0][:1500]}\n```"
        )


def hand_tables(results: list[tuple[str, Outcome, bool]]) -> None:
    print("\n### hand-made cases, per group\n")
    print("| group | cases | as expected | failures | 5xx | no answer | next valid request |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    groups: dict[str, list[tuple[Outcome, bool]]] = {}
    for name, outcome, after in results:
        groups.setdefault(name.split(":")[0], []).append((outcome, after))
    for group, rows in groups.items():
        bad = sum(o.problem is not None for o, _ in rows)
        fives = sum(o.status is not None and o.status >= 500 for o, _ in rows)
        silent = sum(o.status is None for o, _ in rows)
        after = sum(a for _, a in rows)
        print(
            f"| {group} | {len(rows)} | {len(rows) - bad} | {bad} | {fives} | {silent} "
            f"| {after}/{len(rows)} |"
        )
    for name, outcome, after in results:
        if outcome.problem is not None or not after:
            print(f"\nFAILED {name}: {outcome.problem or 'the next valid request failed'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--examples", type=int, default=300, help="per operation and mode")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    ap.add_argument("--body-timeout", type=float, default=2.0, help="proxy's body deadline, s")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}" for p in ("schemathesis", "hypothesis", "fastapi")
    )
    print(f"seed {seed}; {args.examples} examples per operation and mode; {versions}")
    with running_proxy(body_timeout=args.body_timeout, max_body_bytes=1_500_000) as t:
        tally = fuzz_schema(t, args.examples, seed=seed)
        started = time.monotonic()
        results = [(c.name, send(t, c), valid_request_ok(t)) for c in CASES]
        hand_seconds = time.monotonic() - started
        slow, others = slow_client_and_others(t)
        alive = valid_request_ok(t)
    schema_tables(tally)
    hand_tables(results)
    slow_ok = slow.status == 408 and slow.problem is None and max(others) < t.body_timeout
    print("\n### slow client\n")
    print(
        f"- body a byte at a time, timeout {t.body_timeout:g} s: {slow.status} after "
        f"{slow.seconds:.2f} s; {len(others)} valid requests from others meanwhile, the "
        f"slowest {max(others) * 1000:.0f} ms: {'ok' if slow_ok else 'FAILED'}"
    )
    summarise(t, tally, results, hand_seconds, slow_ok, alive)


def summarise(
    t: Target,
    tally: Tally,
    results: list[tuple[str, Outcome, bool]],
    hand_seconds: float,
    slow_ok: bool,
    alive: bool,
) -> None:
    statuses: Counter[int] = Counter()
    for (_, _, status), n in tally.statuses.items():
        statuses[status] += n
    hand_failed = sum(o.problem is not None or not a for _, o, a in results)
    hand_5xx = sum(o.status is not None and o.status >= 500 for _, o, _ in results)
    hangs = tally.hangs + sum(o.status is None for _, o, _ in results)
    recovered = all(tally.recovered.values()) and all(a for _, _, a in results) and alive
    print("\n### totals\n")
    print("| | schemathesis | hand-made | all |")
    print("|---|---:|---:|---:|")
    print(
        f"| cases tried | {sum(tally.cases.values())} | {len(results)} "
        f"| {sum(tally.cases.values()) + len(results)} |"
    )
    print(
        f"| check runs | {sum(tally.checks.values())} | {len(results)} "
        f"| {sum(tally.checks.values()) + len(results)} |"
    )
    print(f"| failures | {tally.failed} | {hand_failed} | {tally.failed + hand_failed} |")
    print(
        f"| 5xx answers | {tally.server_errors} | {hand_5xx} | {tally.server_errors + hand_5xx} |"
    )
    print(f"| hangs (no answer) | {tally.hangs} | {hangs - tally.hangs} | {hangs} |")
    print(f"| seconds | {tally.seconds:.1f} | {hand_seconds:.1f} | |")
    print(
        f"\nschemathesis answers by status: "
        f"{', '.join(f'{s}×{n}' for s, n in sorted(statuses.items()))}"
    )
    print(
        f"every next valid request succeeded: {'yes' if recovered else 'NO'}; "
        f"slow client cut off: {'yes' if slow_ok else 'NO'}; proxy at {t.url} still up: "
        f"{'yes' if alive else 'NO'}"
    )
    if tally.failed or hand_failed or hangs or not recovered or not slow_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()

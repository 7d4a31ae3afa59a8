"""Calibrate the sampling policy for any adaptive arm and attach it to a saved model, in place.

A menu's vote arm (``adaptive: true``) is drawn and priced by its model's sampling policy
for that arm; the packaged model was trained on no arm a user's menu holds, so it carries
one policy for any arm (``ANY_ARM``), calibrated here on permissive recorded samples.

Only ``qwen-math-sampled`` (MIT; 100 MATH problems x 8 samples) has more than three samples
a query under a licence that allows shipping what is fitted on it; reasoning-gym (Apache-2.0)
records at most three, too few to tell one stopping rule from another (with three samples,
stopping once the leader is two ahead is stopping once it cannot be overtaken). The
benchmarks-only sets with 8 to 40 samples (``bench/_sample_sets.py``) never train it; they
measure it (``python bench/bench_samples.py --only-many``, "out of the box").

The calibration offers only stopping rules over every sample the arm may draw (no budget read
off this set's mean success, which would not carry to another arm), chosen by 5-fold
cross-validation with the calibration's usual margin. Deterministic:

    python tools/attach_sampling.py ponder/models/default ../shared/data
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder.classifiers import load_classifier
from ponder.importers import import_rows
from ponder.outcomes import rows_to_table
from ponder.policies import ANY_ARM, SamplingPolicy, calibrate_any_arm, recorded_samples

SOURCE = "qwen-math-sampled"
FOLDS = 5


def build(shared: Path) -> SamplingPolicy:
    """The policy for any arm, calibrated on ``shared``/qwen-math-sampled."""
    table = rows_to_table(import_rows(SOURCE, shared / SOURCE))
    (arm,) = [a for a in table.arms if any(table.samples.get(a) or ())]
    queries = recorded_samples(table, arm, np.nan)
    fold_of = np.random.default_rng(0).permutation(len(queries)) % FOLDS
    return calibrate_any_arm(queries, fold_of)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    model, shared = Path(sys.argv[1]), Path(sys.argv[2])
    policy = build(shared)
    # Only the manifest's sampling entry changes: re-saving the whole model would rewrite
    # fields an earlier ponder wrote differently (see the data card).
    mfile = model / "manifest.json"
    manifest = json.loads(mfile.read_text(encoding="utf-8"))
    manifest["sampling"] = {ANY_ARM: policy.to_state()}
    mfile.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    again = load_classifier(model).sampling_[ANY_ARM]  # reads back
    cal = again.calibration
    assert cal is not None
    print(
        f"saved to {model}: stops {again.stopping()}, kappa {again.budget.kappa:.4f}, "
        f"gamma {again.gamma:.4f}; "
        f"out of fold on {cal.n_queries} queries x {cal.max_samples}: "
        f"{cal.mean_samples:.2f} samples, accuracy {cal.accuracy:.3f} "
        f"(vote {cal.vote_accuracy:.3f})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

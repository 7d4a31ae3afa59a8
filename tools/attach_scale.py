"""Fit the absolute scale on the shared data and attach it to a saved model, in place.

The packaged model's trees were trained by an earlier ponder and are kept as they are (see
its DATACARD.md); this adds the scale without retraining them. A model trained from scratch
gets the same scale from ``ponder train ... --published DATA``.

    python tools/attach_scale.py ponder/models/default ../shared/data
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder.classifiers import SCALE_SOURCES, fit_scale, load_classifier
from ponder.classifiers._artifact import SCALE
from ponder.classifiers._artifact import _write as write_digested
from ponder.classifiers._scale_data import read_published


def _cite(shared: Path, out: Path) -> None:
    """Every published row the scale was fitted on, with its publisher and source."""
    rows = read_published(shared / "published" / "scores.csv")
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arm", "benchmark", "score", "publisher", "source_url"])
        for r in rows:
            w.writerow([r.key, r.benchmark, r.score, r.publisher, r.source])


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    model, shared = Path(sys.argv[1]), Path(sys.argv[2])
    clf = load_classifier(model)
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:5.0f} s] {msg}", file=sys.stderr, flush=True)

    scale = fit_scale(shared, clf.featurizer_, progress=say)
    # Only the scale's file, its digest and the sources change: re-saving the whole model
    # would rewrite fields an earlier ponder wrote differently (see the data card).
    text = json.dumps(scale.state(), separators=(",", ":"))
    digest = write_digested(model / SCALE, text)
    mfile = model / "manifest.json"
    manifest = json.loads(mfile.read_text(encoding="utf-8"))
    manifest.setdefault("files", {})[SCALE] = digest
    sources = [s for s in manifest["training"]["sources"] if s not in SCALE_SOURCES]
    manifest["training"]["sources"] = sources + list(SCALE_SOURCES)
    mfile.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _cite(shared, model / "PUBLISHED_SOURCES.csv")
    again = load_classifier(model)  # the digest and the scale read back
    say(f"saved to {model}: {len(again.scale_.arms_) if again.scale_ else 0} arms on the scale")
    return 0


if __name__ == "__main__":
    sys.exit(main())

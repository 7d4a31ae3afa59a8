"""Fit the absolute scale on the shared data and attach it to a saved model, in place.

The packaged model's trees were trained by an earlier ponder and are kept as they are (see
its DATACARD.md); this adds the scale without retraining them. A model trained from scratch
gets the same scale from ``ponder train ... --published DATA``.

    python tools/attach_scale.py ponder/models/default ../shared/data
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder.classifiers import SCALE_SOURCES, fit_scale, load_classifier, save_classifier


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    model, shared = Path(sys.argv[1]), Path(sys.argv[2])
    clf = load_classifier(model)
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:5.0f} s] {msg}", file=sys.stderr, flush=True)

    clf.attach_scale(fit_scale(shared, clf.featurizer_, progress=say))
    manifest = (model / "manifest.json").read_text(encoding="utf-8")
    scale_sources = [f"{shared.name}/{d}" for d in SCALE_SOURCES]
    sources = [s for s in json.loads(manifest)["training"]["sources"] if s not in scale_sources]
    sources += scale_sources
    save_classifier(clf, model, sources=sources)
    say(f"saved to {model}: {len(clf.scale_.arms_) if clf.scale_ else 0} arms on the scale")
    return 0


if __name__ == "__main__":
    sys.exit(main())

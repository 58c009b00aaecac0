#!/usr/bin/env bash
# The main job on the bundled real model, as a team's repository would run it:
# a fresh git repository with the MiniLM manifest and the policies, `gate plan`, `dvc repro`
# (local DVC cache), `gate decide`, `gate record` (embedded MLflow sqlite store).
# Usage: scripts/demo.sh [WORKDIR]   (default: .demo; the venv's bin must be on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/.demo}
export DVC_NO_ANALYTICS=1 MLFLOW_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1

rm -rf "$work"
mkdir -p "$work/models"
cp -r "$here/examples/minilm" "$work/models/minilm"
rm -f "$work/models/minilm/make_eval.py"
cp -r "$here/policies" "$work/policies"
cd "$work"
git init -q -b main
git config user.email demo@edge-gate.invalid
git config user.name "edge-gate demo"
dvc init -q
dvc config --local core.site_cache_dir "$work/.dvc/site-cache"
# MLflow's embedded store and DVC's site cache are local state, never commits
printf '%s\n' /mlflow.db '/mlflow.db.*' /.mlflow.db.init-* /mlruns/ /.dvc/site-cache/ > .gitignore
gate plan
git add -A
git commit -q -m "Add the MiniLM manifest"

start=$(date +%s)
gate repro
echo "dvc repro took $(( $(date +%s) - start )) s"

set +e
gate decide
code=$?
set -e
if [ "$code" -ge 2 ]; then
  echo "gate decide failed with exit code $code (not a verdict)" >&2
  exit "$code"
fi
gate record
case $code in
  0) echo "demo: the candidate PASSED every rule of policies/edge-default.yaml on this machine." ;;
  1) echo "demo: the gate BLOCKED the candidate: at least one rule of policies/edge-default.yaml failed on this machine (see the table above and $work/build/gate/minilm/report.md)." ;;
esac
echo "demo: MLflow store: $work/mlflow.db (mlflow ui --backend-store-uri sqlite:///$work/mlflow.db)"
echo "demo: DVC shows the figures too: cd $work && dvc metrics show && dvc plots show (writes dvc_plots/index.html)"

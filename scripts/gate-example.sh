#!/usr/bin/env bash
# Run one example (examples/<NAME>) through the whole pipeline in a fresh git + DVC repository:
# gate plan, dvc repro, gate decide. Usage: scripts/gate-example.sh NAME [WORKDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
name=$1
work=${2:-$here/.demo-$name}
export DVC_NO_ANALYTICS=1 MLFLOW_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1
rm -rf "$work"
mkdir -p "$work/models"
cp -r "$here/examples/$name" "$work/models/$name"
rm -f "$work/models/$name/make_eval.py"
cp -r "$here/policies" "$work/policies"
cd "$work"
git init -q -b main
git config user.email demo@edge-gate.invalid
git config user.name "edge-gate demo"
dvc init -q
dvc config core.site_cache_dir "$work/.dvc/site-cache"
gate plan
git add -A
git commit -q -m "Add the $name manifest"
start=$(date +%s)
dvc repro
echo "dvc repro took $(( $(date +%s) - start )) s"
set +e
gate decide
code=$?
set -e
echo "report: $work/build/gate/$name/report.md (gate decide exit code $code)"
[ "$code" -le 1 ]

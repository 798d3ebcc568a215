#!/bin/sh
# Extracts the Python sources of the two reference repositories from bare git directories (large files,
# e.g. checkpoints, may be absent from such a mirror, so `git archive` can fail; only *.py is needed):
#   scripts/reference/checkout.sh [AUTOATTACK_GIT] [CNNF_GIT]
# into /tmp/t16-aa (fra31/auto-attack) and /tmp/t16-cnnf (yjhuangcd/CNNF), the defaults of
# AUTOATTACK_SRC and CNNF_SRC in autoattack_run.py and bench_model.py. Prints the commits used.
set -e
AA_GIT=${1:-/work/.mirror/fra31+auto-attack/repo}
CNNF_GIT=${2:-/work/.mirror/yjhuangcd+CNNF/repo}
for pair in "$AA_GIT:/tmp/t16-aa" "$CNNF_GIT:/tmp/t16-cnnf"; do
  g=${pair%%:*}
  d=${pair##*:}
  rm -rf "$d"
  mkdir -p "$d"
  git --git-dir="$g" ls-tree -r HEAD --name-only | grep '\.py$' | while read -r f; do
    mkdir -p "$d/$(dirname "$f")"
    git --git-dir="$g" show "HEAD:$f" > "$d/$f"
  done
  echo "$d: $(git --git-dir="$g" rev-parse HEAD)"
done

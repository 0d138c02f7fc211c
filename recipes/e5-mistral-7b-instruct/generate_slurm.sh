#!/bin/bash
# Generation as SLURM jobs: the shared brainstorm once, then NUM_SHARDS shards as an array (shard i on endpoint
# i mod the number of endpoints), then merge_shards, each job starting only after the one before succeeded.
#   bash recipes/e5-mistral-7b-instruct/generate_slurm.sh NUM_SHARDS [BASE_URL,BASE_URL,...]
# RECIPE=... picks another generation YAML; SBATCH_ARGS="--partition cpu ..." is passed to every sbatch;
# LOG_DIR=... holds the job logs (default logs/); DRY_RUN=1 prints the sbatch commands (with placeholder job ids) instead of submitting them.
set -euo pipefail
NUM_SHARDS=${1:?usage: generate_slurm.sh NUM_SHARDS [BASE_URL,BASE_URL,...]}
BASE_URLS=${2:-}
RECIPE=${RECIPE:-recipes/e5-mistral-7b-instruct/generate.yaml}
PYTHON=${PYTHON:-python}
LAUNCH="$PYTHON scripts/launch_generation.py --recipe $RECIPE --num_shards $NUM_SHARDS"
if [ -n "$BASE_URLS" ]; then LAUNCH="$LAUNCH --base_urls $BASE_URLS"; fi
# SLURM opens --output before the job runs, so the folder must exist at submission.
mkdir -p "${LOG_DIR:=logs}"
submit() {  # sbatch ARGS... -> job id
    if [ -n "${DRY_RUN:-}" ]; then
        { printf 'sbatch'; printf ' %q' "$@"; printf '\n'; } >&2
        echo "DRYRUN-${1#--job-name=}"  # a placeholder job id, named after the job
    else
        sbatch --parsable ${SBATCH_ARGS:-} "$@"
    fi
}
BRAINSTORM=$(submit --job-name=gen-brainstorm --output=$LOG_DIR/%x-%j.out --wrap "$LAUNCH --step brainstorm")
SHARDS=$(submit --job-name=gen-shard --array=0-$((NUM_SHARDS - 1)) --output=$LOG_DIR/%x-%A_%a.out \
    --dependency=afterok:$BRAINSTORM --wrap "$LAUNCH --step shard --shard_index \$SLURM_ARRAY_TASK_ID")
submit --job-name=gen-merge --output=$LOG_DIR/%x-%j.out --dependency=afterok:$SHARDS --wrap "$LAUNCH --step merge" >/dev/null

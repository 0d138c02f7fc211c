#!/bin/bash
# Several nodes × 8 GPUs under DeepSpeed ZeRO-3, one `accelerate launch` per node.
#   sbatch --nodes 4 recipes/e5-mistral-7b-instruct/slurm.sh [extra --key value overrides]
# DRY_RUN=1 (with SLURM_NNODES and MASTER_ADDR set) prints the srun command instead of running it.
#SBATCH --job-name=e5-mistral-7b
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=96
#SBATCH --exclusive
# In the submission folder: SLURM opens this file before the script runs, so a logs/ folder would have to pre-exist.
#SBATCH --output=%x-%j.out
set -euo pipefail
# Global batch = per_device_train_batch_size × GPUs: keep the paper's 2048 (App. A) by scaling the per-device batch
# with the node count; a GPU count that does not divide 2048 would silently shrink it, so it is refused.
GPUS=$((SLURM_NNODES * 8))
if ((2048 % GPUS)); then
    echo "error: 2048 (global batch) is not divisible by $GPUS GPUs; use 1, 2, 4, 8 ... nodes" >&2
    exit 2
fi
PER_DEVICE=$((2048 / GPUS))
MASTER_ADDR=${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}
${DRY_RUN:+echo} srun --kill-on-bad-exit=1 bash -c "accelerate launch \
    --config_file configs/accelerate/zero3_multinode.yaml \
    --num_machines $SLURM_NNODES --num_processes $GPUS --machine_rank \$SLURM_PROCID \
    --main_process_ip $MASTER_ADDR --main_process_port 29500 \
    recipes/train.py --config recipes/e5-mistral-7b-instruct/train.yaml \
    --per_device_train_batch_size $PER_DEVICE $*"

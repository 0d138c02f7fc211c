#!/bin/bash
# Several nodes × 8 GPUs under DeepSpeed ZeRO-3, one `accelerate launch` per node.
#   sbatch --nodes 4 recipes/e5-mistral-7b-instruct/slurm.sh [extra --key value overrides]
#SBATCH --job-name=e5-mistral-7b
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=96
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out
set -euo pipefail
# Global batch = per_device_train_batch_size × GPUs: keep 2048 by scaling the per-device batch with the node count.
GPUS=$((SLURM_NNODES * 8))
PER_DEVICE=$((2048 / GPUS))
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun --kill-on-bad-exit=1 bash -c "accelerate launch \
    --config_file configs/accelerate/zero3_multinode.yaml \
    --num_machines $SLURM_NNODES --num_processes $GPUS --machine_rank \$SLURM_PROCID \
    --main_process_ip $MASTER_ADDR --main_process_port 29500 \
    recipes/train.py --config recipes/e5-mistral-7b-instruct/train.yaml \
    --per_device_train_batch_size $PER_DEVICE $*"

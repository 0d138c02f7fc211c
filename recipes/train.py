"""Train an embedding model: `accelerate launch [--config_file configs/accelerate/...] recipes/train.py --config R.yaml`
(synthembed/cli/train.py; installed as `synthembed-train`)."""

from synthembed.cli.train import main

if __name__ == "__main__":
    main()

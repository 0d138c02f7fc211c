"""Prepare the public sets of the paper's full-data mixture: load with their Hub configs, map onto seam 1, sample,
mine missing hard negatives data-parallel (synthembed/cli/prepare_public_data.py; installed as
`synthembed-prepare-data`)."""

from synthembed.cli.prepare_public_data import main

if __name__ == "__main__":
    main()

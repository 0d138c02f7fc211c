"""Merge trained model folders of one base (synthembed/cli/merge_models.py; installed as `synthembed-merge-models`)."""

from synthembed.cli.merge_models import main

if __name__ == "__main__":
    main()

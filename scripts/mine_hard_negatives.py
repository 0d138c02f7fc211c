"""Fill missing hard negatives by mining a rank window with an embedding model (synthembed/cli/mine.py; installed as
`synthembed-mine`)."""

from synthembed.cli.mine import main

if __name__ == "__main__":
    main()

"""Console entry points of generation (`synthembed-generate`, `synthembed-merge-shards`); `scripts/generate.py` and
`scripts/merge_shards.py` wrap them."""

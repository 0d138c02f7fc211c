"""What both libraries (`data_generation`, `synthembed`) and the entry points share: the config dialect, logging,
files written atomically, the Hub token.

The dependency rule between the project's packages (each may import only the packages to its right; tests/
test_architecture.py reads this line and checks every import against it, along with no import cycles and no private
name imported from another module):

    data_generation -> synthembed -> synthembed_common -> model_cards

`data_generation` uses `synthembed` for what both need and only the training side owns (dataset loading and the seam-1
mapping, hard-negative mining, the evaluation tasks' texts for decontamination); `synthembed` never imports
`data_generation`; this package imports neither.
"""

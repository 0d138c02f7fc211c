"""What both libraries (`data_generation`, `synthembed`) and the entry points share: the config dialect, logging,
files written atomically, the Hub token. Neither library imports the other; both import this."""

"""Tables → flags: rulesets, what a check is, and the runner that runs a month's checks."""

"""Hand-written promtool behaviour tests of the generated rules, one file per area."""

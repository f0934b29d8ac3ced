"""Each README recipe ("How to add ..."), followed step by step in a temporary copy."""

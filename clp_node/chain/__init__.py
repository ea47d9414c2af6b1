"""Keys, genesis, blocks, committees and the staking ledger: the state CLP decisions change."""

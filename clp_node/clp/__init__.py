"""The pure CLP core: no I/O, no clock, no randomness; fed finalized blocks, returns state."""

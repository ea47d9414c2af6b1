"""The fault model: the registry of fault kinds (``kinds/``), the fault state they move,
the fault log that records it (format 2) and the Nemesis that applies them."""

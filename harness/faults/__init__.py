"""Fault injection: link faults through the Toxiproxy API, process faults, test hooks."""

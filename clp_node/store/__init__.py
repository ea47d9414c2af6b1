"""Durable storage of the finalized chain and of what this validator has signed."""

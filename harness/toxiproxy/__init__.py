"""toxiproxy."""

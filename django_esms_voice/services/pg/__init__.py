"""PostgreSQL-only SQL of the services: the callback fast path and its preparation; the
reports' date_bin, a campaign's cost and its timeline's bars (each an index range)."""

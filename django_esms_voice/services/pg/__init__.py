"""PostgreSQL-only SQL of the services: the callback fast path, the preparation of the hot
statements (it, the claim, the answer) and their borrowing of pooled connections; the
reports' date_bin, a campaign's cost and its timeline's bars (each an index range)."""

"""PostgreSQL-only SQL of the services: the callback fast path, and its preparation."""

"""Integration tests: real PostgreSQL, Redis or RabbitMQ, and real Celery worker processes."""

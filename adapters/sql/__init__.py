"""Read models in SQLite or PostgreSQL through SQLAlchemy Core."""

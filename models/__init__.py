"""Domain models (pydantic), database tables (SQLAlchemy) and migrations (Alembic)."""

"""Storage: SQLAlchemy models, the database and its unit of work, repositories, migrations."""

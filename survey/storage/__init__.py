"""Storage: the SQLite connection, the schema and its migrations, and the queries over the survey tables."""

"""Reading databases written elsewhere: SQL dumps in other dialects (sqlglot), pg_dump scripts and archives."""

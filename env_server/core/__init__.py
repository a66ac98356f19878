"""The environment core: the SQL sandbox, databases and their variants, schemas, the docs corpus, provenance."""

"""The FastAPI server (OpenEnv routes, sessions, /grade, /review, playground), its clients and process helpers."""

"""The HTTP API (FastAPI): validate, authorize, then ask Temporal or read the store."""

"""Temporal workflows: deterministic orchestration of one deal's process."""

"""Tests of flows (the Prefect orchestration layer), run for real."""

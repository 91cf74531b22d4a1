"""Tests of registry.ingest."""

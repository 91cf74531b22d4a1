"""Tests of registry.db."""

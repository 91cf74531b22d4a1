"""Tests of registry.bench."""

"""Tests of registry.batch."""

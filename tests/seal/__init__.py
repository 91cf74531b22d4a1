"""Tests of registry.seal."""

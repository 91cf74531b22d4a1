"""Tests of registry.render."""

"""Tests of registry.tlog."""

"""Tests of registry.bulletin."""

"""Tests of registry.province (the registry's push side)."""

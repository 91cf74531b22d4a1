"""Tests of registry.mockprovince (the mock provincial platform)."""

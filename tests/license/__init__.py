"""Tests of registry.license."""

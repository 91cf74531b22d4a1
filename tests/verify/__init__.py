"""Tests of registry.verify."""

"""Tests of registry.template."""

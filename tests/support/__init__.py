"""Helpers the tests share: builders of registries, licenses and fake peers (no tests here)."""

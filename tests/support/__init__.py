"""Helpers the tests of both environments share: standard library only."""

"""The test suite: tests/<package>/ mirrors registry/<package>/ (tests/flows/ mirrors flows/)."""

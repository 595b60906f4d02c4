"""Harness code shared by the benchmarks (`callcenter bench`) and the test suite:
real processes, real sockets, nothing mocked. Not used by the running service."""

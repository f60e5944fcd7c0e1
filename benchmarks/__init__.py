"""Benchmarks: `make bench` runs them all and prints what each measured against its goal."""

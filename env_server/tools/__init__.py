"""Tooling around the environment, never imported by it: benchmarks, the exploit suite, scripted policies, demos."""

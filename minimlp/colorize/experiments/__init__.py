"""Experiments: one run, the paper's studies, reports, sweeps, baselines, provenance, local and Ray executors."""

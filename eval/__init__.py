"""Evaluation: benchmark runs, scoring of generations and the verifiable-reward library (rewards)."""

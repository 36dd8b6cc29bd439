"""Data for the pipeline: the embedded default's generator (generate.py) and the one loader every stage uses
(loading.py). Imports only the reward library (to check each RLVR row's verifier and ground truth)."""

"""The eval suite: benchmark runs (run.py), decontamination, re-scoring generations, the report and run comparison.
It scores with the verifier library in rewards/."""

"""Grading: the grader (the one place that decides correctness), typed answers, database-state diffs, reward composition."""

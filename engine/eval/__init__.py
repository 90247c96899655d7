"""Evaluation: metrics (pure functions) and one evaluator per component."""

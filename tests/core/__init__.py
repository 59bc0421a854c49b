"""Tests of the pure core: rules, cases, review commands, budgets, policy."""

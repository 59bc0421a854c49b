"""Tests of the queue figures and their renderings."""

"""Tests of the extractor: samples, the corpus, hostile text, file shapes, linear patterns."""

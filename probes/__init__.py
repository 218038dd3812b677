"""Stimulus sets: languages, concepts, parallel sentences and routing edge cases."""

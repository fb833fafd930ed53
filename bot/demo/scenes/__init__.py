"""Scenes of the offline demo, one module per feature."""

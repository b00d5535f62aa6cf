"""Beam layers of the stages: private DoFns and the public composite PTransforms used by pipelines/."""

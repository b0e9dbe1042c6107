"""Consistency Models toy: consistency distillation on a 2-D Gaussian mixture with an exact score."""

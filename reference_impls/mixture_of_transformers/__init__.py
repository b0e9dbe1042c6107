"""Mixture-of-Transformers (arXiv:2411.04996): modality-untied weights with global attention, in NumPy."""

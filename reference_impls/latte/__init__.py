"""Latte (arXiv:2401.03048): spatio-temporal factorised diffusion Transformer backbone in NumPy."""

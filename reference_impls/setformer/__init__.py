"""SeTformer (arXiv:2401.03540): self-optimal transport attention with a kernel cost and Sinkhorn scaling, in NumPy."""

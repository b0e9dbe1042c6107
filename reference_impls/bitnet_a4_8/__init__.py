"""BitNet a4.8 reference implementation (toy NumPy model)."""

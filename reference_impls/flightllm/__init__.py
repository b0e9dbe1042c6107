"""FlightLLM reference implementation (toy NumPy model)."""

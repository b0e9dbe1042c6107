"""Small, faithful NumPy reference implementations of the papers on Paper Digest.

One sub-package per paper: ``model.py`` (the mechanism, NumPy only), ``demo.py`` (figures and metrics on
synthetic data, run by ``digest demo <id>``) and ``test_<name>.py`` (one test per claim of the paper's record).
"""

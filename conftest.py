"""Repository-wide pytest setup: one BLAS thread, so the suite's timing is stable on a shared 2-core machine."""

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

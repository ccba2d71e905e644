"""Cell functions for the runs tests, sent to the workers by value (they need not import it)."""

import os
import time

import numpy as np


def quadratic(a, b, seed):
    """A closed form per cell: y = a·b + seed, and a small array [a, b, seed]."""
    return {"y": a * b + seed, "vec": np.array([a, b, seed], dtype=float)}


def logged(a, b, seed, log, heal):
    """``quadratic``, logging each call to ``log``; raises for a = 2 until ``heal`` exists."""
    with open(log, "a") as f:
        f.write(f"{a},{b},{seed}\n")
    if a == 2 and not os.path.exists(heal):
        raise RuntimeError(f"cell a={a} b={b} failed on purpose")
    return quadratic(a, b, seed)


def slow(x, seed, marker):
    """x² + seed after a nap; cell x = 2 writes its process id to ``marker`` and naps longer,
    so that the test can kill the worker while it runs this cell."""
    if x == 2:
        with open(marker + ".part", "w") as f:
            f.write(str(os.getpid()))
        os.replace(marker + ".part", marker)
        time.sleep(3.0)
    else:
        time.sleep(0.2)
    return {"y": x * x + seed}

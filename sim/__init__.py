"""Ravine's numerics: surfaces, update rules, numba kernels. Never imports Qt.

    from sim import make_surface, OptimizerConfig, simulate
"""

from sim.optimizers import HYPERPARAMS, RULES, SCHEDULES, OptimizerConfig
from sim.simulate import simulate, simulate_batch
from sim.surfaces import Surface, catalogue, make_surface
from sim.trajectory import BatchResult, Trajectory

__all__ = ["HYPERPARAMS", "RULES", "SCHEDULES", "OptimizerConfig", "simulate", "simulate_batch",
           "Surface", "catalogue", "make_surface", "BatchResult", "Trajectory"]

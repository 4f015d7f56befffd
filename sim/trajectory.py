"""Trajectory and BatchResult: the frozen results of the step loop."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from sim.optimizers import OptimizerConfig


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Every step of one run. Row t holds θ_t and what the step from θ_t to θ_t+1 used.

    theta, grad, velocity, avg: (n, 2); cost, lr, avg_cost, kinetic: (n,), n = steps + 1
    unless the run diverged. grad[t] is the gradient estimate the step from θ_t used (the
    last row: the exact gradient at the final point); lr[t] the α_t it used; velocity[t] is
    θ_t − θ_t−1 (zero at t = 0); kinetic[t] = ½‖velocity[t]‖²/α_t−1 (α floored at 1e-12 α₀), the particle's kinetic
    energy in the lecture's physical picture of momentum.
    """

    theta: np.ndarray
    cost: np.ndarray
    grad: np.ndarray
    velocity: np.ndarray
    lr: np.ndarray
    avg: np.ndarray
    avg_cost: np.ndarray
    kinetic: np.ndarray
    diverged_at: int | None
    config: OptimizerConfig
    seed: int
    steps_requested: int

    def __len__(self) -> int:
        return int(self.cost.shape[0])

    @property
    def steps(self) -> np.ndarray:
        return np.arange(len(self))

    @functools.cached_property
    def grad_norm(self) -> np.ndarray:
        """‖g_t‖ (computed once: views read it on every redraw)."""
        return np.hypot(self.grad[:, 0], self.grad[:, 1])

    @property
    def potential(self) -> np.ndarray:
        return self.cost

    @property
    def total_energy(self) -> np.ndarray:
        return self.cost + self.kinetic

    @property
    def final_theta(self) -> np.ndarray:
        return self.theta[-1]

    @property
    def final_cost(self) -> float:
        return float(self.cost[-1])

    @property
    def best_cost(self) -> float:
        return float(self.cost.min())

    def examples_seen(self, n_examples: int) -> np.ndarray:
        """t × B: examples whose gradients were used by step t (B = N for full batch)."""
        b = self.config.batch_size or n_examples
        return self.steps * min(b, n_examples) if n_examples > 1 else self.steps * max(b, 1)

    def at(self, t: int) -> int:
        """Row index for playback cursor t (the last row once the run has ended)."""
        return max(0, min(int(t), len(self) - 1))


@dataclass(frozen=True, eq=False)
class BatchResult:
    """P particles run together: final states and every k-th recorded step.

    record_steps: (R,) the steps recorded; theta: (R, P, 2) in `dtype`; cost: (R, P).
    diverged_at: (P,) with -1 where a particle did not diverge. settled_at: (P,) the step
    from which on no update moved the particle farther than the batch's settle tolerance
    (None when not tracked; meaningless for diverged particles). avg_theta and avg_cost:
    the iterate average's final point and cost (None when the batch did not average).
    """

    final_theta: np.ndarray
    final_cost: np.ndarray
    avg_theta: np.ndarray | None
    avg_cost: np.ndarray | None
    best_cost: np.ndarray
    diverged_at: np.ndarray
    record_steps: np.ndarray
    theta: np.ndarray
    cost: np.ndarray
    settled_at: np.ndarray | None = None

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

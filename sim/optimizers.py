"""Update rules, their hyperparameters, learning-rate schedules: `OptimizerConfig`.

An optimizer is an update rule (DESIGN.md, principle 2). Whether its gradient is exact, a
mini-batch of a dataset surface or a noise model is decided by `batch_size` and `noise`,
so every rule runs stochastic. Every run also keeps the iterate average of eq. 11.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from sim import kernels as K
from sim.surfaces import Param


@dataclass(frozen=True)
class RuleInfo:
    """One row of the optimizer catalogue."""

    name: str
    code: int
    title: str
    formula: str
    uses: tuple[str, ...]
    default_lr: float
    description: str


RULES: dict[str, RuleInfo] = {r.name: r for r in (
    RuleInfo("gd", K.GD, "Gradient descent", "θ ← θ − α g", ("lr",), 1e-3,
             "eq. 2 (eq. 7 with mini-batches): step downhill along the gradient."),
    RuleInfo("momentum", K.MOMENTUM, "Momentum (heavy ball)", "p ← μ p − α g;  θ ← θ + p",
             ("lr", "momentum"), 1e-3,
             "eq. 8–9: the gradient sets the acceleration of a particle with friction 1 − μ; p₀ = 0."),
    RuleInfo("nesterov", K.NESTEROV, "Nesterov momentum", "p ← μ p − α ∇E(θ + μ p);  θ ← θ + p",
             ("lr", "momentum"), 1e-3,
             "momentum whose gradient is taken at the look-ahead point θ + μ p."),
    RuleInfo("adagrad", K.ADAGRAD, "AdaGrad", "s ← s + g²;  θ ← θ − α g / (√s + ε)",
             ("lr", "eps"), 0.5,
             "per-coordinate rates shrinking with the summed squared gradients; s₀ = 0."),
    RuleInfo("rmsprop", K.RMSPROP, "RMSprop", "v ← ρ v + (1 − ρ) g²;  θ ← θ − α g / (√v + ε)",
             ("lr", "rho", "eps"), 0.01,
             "per-coordinate rates from a moving average of squared gradients; v₀ = 0."),
    RuleInfo("adam", K.ADAM, "Adam",
             "m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;  θ ← θ − α m̂ / (√v̂ + ε)",
             ("lr", "beta1", "beta2", "eps"), 0.01,
             "Kingma & Ba, Algorithm 1, with bias correction m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)."),
    RuleInfo("newton", K.NEWTON, "Newton (damped)", "θ ← θ − α (H + λI)⁻¹ g",
             ("lr", "damping"), 0.5,
             "second-order step with the exact Hessian (4.8). Where H is not positive definite "
             "(saddles, ridges) |H| — H with its eigenvalues made positive — replaces H, so the "
             "step still goes downhill instead of being drawn to the saddle."),
)}

SCHEDULES = {
    "constant": (K.CONSTANT, "α_t = α₀"),
    "exponential": (K.EXPONENTIAL, "α_t = α₀ exp(−(t − t₀)/τ) for t ≥ t₀ (eq. 10, decay started late)"),
    "step": (K.STEP, "α_t = α₀ · 0.5^⌊(t − t₀)/τ⌋ for t ≥ t₀ (halve every τ steps)"),
    "inverse": (K.INVERSE, "α_t = α₀ / (1 + (t − t₀)/τ) for t ≥ t₀ (1/t decay)"),
}

# Every hyperparameter with its range; the command line, the scenario file and the GUI's
# editors are all built from this table.
HYPERPARAMS: dict[str, Param] = {p.name: p for p in (
    Param("lr", 1e-3, 1e-8, 1e3, "learning rate α (eq. 2)", log=True),
    Param("momentum", 0.9, 0.0, 1.0, "momentum μ: 1 − friction; μ = 0 is gd, μ = 1 frictionless (eq. 8)"),
    Param("beta1", 0.9, 0.0, 0.999999, "Adam: decay of the first-moment average m"),
    Param("beta2", 0.999, 0.0, 0.99999999, "Adam: decay of the second-moment average v"),
    Param("rho", 0.9, 0.0, 0.999999, "RMSprop: decay of the squared-gradient average"),
    Param("eps", 1e-8, 0.0, 1.0, "ε added to the root of the second moment"),
    Param("damping", 1e-3, 0.0, 1e6, "Newton: λ added to the Hessian's diagonal", log=True),
    Param("batch_size", 0, 0, 1_000_000,
          "mini-batch size B (0: full batch); on analytic surfaces noise scales as σ/√B", kind="int"),
    Param("noise", 0.0, 0.0, 1e6, "σ of the Gaussian gradient-noise model (scaled by 1/√B)"),
    Param("decay_start", 0, 0, 10_000_000, "t₀: the step at which the decay starts", kind="int"),
    Param("tau", 100.0, 1e-6, 1e12, "τ: decay timescale of the schedule (eq. 10)", log=True),
    Param("avg_tau", 20.0, 1.0, 1e12, "τ of the iterate average θ̃ (eq. 11)", log=True),
)}


@dataclass(frozen=True)
class OptimizerConfig:
    """An update rule with its hyperparameters, gradient oracle, schedule and averaging."""

    rule: str = "gd"
    lr: float = 1e-3
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    rho: float = 0.9
    eps: float = 1e-8
    damping: float = 1e-3
    batch_size: int = 0
    noise: float = 0.0
    schedule: str = "constant"
    decay_start: int = 0
    tau: float = 100.0
    avg_tau: float = 20.0

    def validated(self) -> "OptimizerConfig":
        """The same config with numbers coerced and checked; ValueError says what is wrong."""
        if self.rule not in RULES:
            raise ValueError(f"unknown optimizer {self.rule!r}; choose one of: {', '.join(RULES)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}")
        changes: dict[str, object] = {}
        for name, p in HYPERPARAMS.items():
            value = getattr(self, name)
            if name == "batch_size" and value is None:
                value = 0
            if name == "lr":
                try:
                    v = float(value)
                except (TypeError, ValueError):
                    v = math.nan
                if not (math.isfinite(v) and v > 0):
                    raise ValueError(f"lr must be a positive finite number, not {value!r}")
            v = p.check(value, "optimizer")
            changes[name] = int(v) if p.kind == "int" else v
        return replace(self, **changes)

    @property
    def info(self) -> RuleInfo:
        return RULES[self.rule]

    def to_dict(self, only_used: bool = False) -> dict[str, object]:
        """Plain dict for JSON; `only_used` drops hyperparameters the rule ignores."""
        d = asdict(self)
        if only_used:
            keep = set(self.info.uses) | {"rule", "batch_size", "noise", "schedule", "decay_start",
                                          "tau", "avg_tau"}
            d = {k: v for k, v in d.items() if k in keep}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> "OptimizerConfig":
        """Build from a dict, rejecting unknown keys by name."""
        names = {f.name for f in fields(cls)}
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ValueError(f"unknown optimizer setting {unknown[0]!r} (known: {', '.join(sorted(names))})")
        return cls(**d).validated()  # type: ignore[arg-type]

    def hyper_parts(self, fmt: str = "g") -> list[str]:
        """The hyperparameters that matter for this rule, in the lecture's symbols."""
        parts = [f"{_SHORT.get(k, k)}={format(getattr(self, k), fmt)}" for k in self.info.uses
                 if k != "eps"]
        if self.batch_size:
            parts.append(f"B={self.batch_size}")
        if self.noise:
            parts.append(f"σ={format(self.noise, fmt)}")
        if self.schedule != "constant":
            parts.append(f"{self.schedule} t₀={self.decay_start}")
        return parts

    def label(self) -> str:
        """Short human label: the rule and the hyperparameters it uses."""
        return " ".join([self.rule, *self.hyper_parts()])


_SHORT = {"lr": "α", "momentum": "μ", "beta1": "β₁", "beta2": "β₂", "rho": "ρ", "damping": "λ"}


def schedule_factor(schedule: str, t: int, decay_start: int, tau: float) -> float:
    """α_t / α₀ at step t, exactly as the kernels compute it."""
    return float(K._schedule_factor(SCHEDULES[schedule][0], t, decay_start, tau))

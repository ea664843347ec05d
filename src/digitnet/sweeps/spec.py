"""What a sweep trains: a grid, a list or random samples over :class:`TrainConfig`'s settings, times seeds.

A sweep's configurations are the union of three parts, each over a base configuration (a preset, with
fixed settings on top):

* ``grid``: every combination of the values given for each setting (the Cartesian product);
* ``points``: an explicit list of settings, each a dict;
* ``random``: ``samples`` draws from a distribution per setting (a list of choices, uniform or
  log-uniform between two numbers), drawn from ``sample_seed``, so the same sweep draws the same ones.

Each configuration is trained once per seed. A run is known by its *key*, a checksum of its whole
configuration (seed included), so the same run always has the same key, in any sweep, on any machine.

Settings given as text (the command line, or strings in a file) are read by the settings table
(:mod:`digitnet.training.settings`), as ``digitnet train`` reads its flags:
``lr=1e-3,3e-3`` (values separated by commas), ``hidden=100,16x16,none`` (``x`` between the sizes of
one network's layers, ``none`` for no hidden layer), ``conv=6/16,32x32/64x64``, ``batch_norm=true,false``,
``init=none,he``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitnet.checks import is_integer
from digitnet.training.config import TrainConfig
from digitnet.training.settings import SETTINGS

__all__ = [
    "MAX_RUNS",
    "MAX_RUNS_UNASKED",
    "MAX_SAMPLES",
    "MAX_SEEDS",
    "Run",
    "SweepSpec",
    "run_key",
    "parse_assignment",
    "parse_distribution",
    "parse_value",
]

SWEEPABLE = sorted(set(SETTINGS) - {"seed"})  # a sweep's seeds come from ``seeds``


@dataclass(frozen=True)
class Run:
    """One training of a sweep: its configuration (seed included), its key, and its configuration's."""

    config: TrainConfig
    key: str  # of the whole configuration: the run's name in the sweep folder
    group: str  # of the configuration without its seed: runs of one group differ only in the seed
    settings: dict[str, Any]  # the swept settings' values, as plain JSON


def run_key(config: TrainConfig) -> str:
    """The key of the run that trains ``config``: the name of its folder in a sweep folder."""
    return config_key(config.key_dict())


def config_key(config: dict[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the configuration as canonical JSON."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _check_field(name: str) -> None:
    if name == "seed":
        raise ValueError("seeds are not swept as a setting: give --seeds N (or seeds = [...] in a file)")
    if name not in SETTINGS:
        raise ValueError(f"unknown setting {name!r}; a sweep can vary any of {', '.join(SWEEPABLE)}")


def parse_value(name: str, value: Any) -> Any:
    """One value of setting ``name``, from its text form or from JSON/TOML, as TrainConfig takes it: the
    settings table's reading (:mod:`digitnet.training.settings`), the same as ``digitnet train``'s flags.

    >>> parse_value("hidden", "16x16"), parse_value("conv", "6/16"), parse_value("lr", "3e-3")
    ((16, 16), ((6,), (16,)), 0.003)
    """
    _check_field(name)
    return SETTINGS[name].parse(value)


def parse_assignment(text: str) -> tuple[str, tuple[Any, ...]]:
    """``"lr=1e-3,3e-3"`` -> ``("lr", (0.001, 0.003))``: a setting and its values, for ``--grid``."""
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not values.strip():
        raise ValueError(f"{text!r} is not SETTING=VALUE[,VALUE...], e.g. lr=1e-3,3e-3 or hidden=100,16x16")
    _check_field(name)
    return name, tuple(parse_value(name, v.strip()) for v in values.split(","))


def parse_distribution(text: str) -> tuple[str, dict[str, Any]]:
    """A ``--sample`` setting: ``lr=log:1e-4:1e-2`` (log-uniform), ``dropout=0:0.5`` (uniform),
    ``hidden=16,64`` (a choice)."""
    name, values = text.split("=", 1) if "=" in text else (text, "")
    name = name.strip().replace("-", "_")
    _check_field(name)
    parts = values.split(":")
    try:
        if parts[0] == "log" and len(parts) == 3:
            return name, {"log_uniform": [float(parts[1]), float(parts[2])]}
        if len(parts) == 2:
            return name, {"uniform": [float(parts[0]), float(parts[1])]}
    except ValueError:
        raise ValueError(
            f"--sample {text}: the bounds must be numbers, e.g. lr=log:1e-4:1e-2 or dropout=0:0.5"
        ) from None
    name, values = parse_assignment(text)
    return name, {"choice": list(values)}


def _checked_distribution(name: str, spec: Any) -> dict[str, Any]:
    _check_field(name)
    if isinstance(spec, list):
        spec = {"choice": spec}
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(
            f"random setting {name}: give one of choice = [...], uniform = [low, high] or "
            f"log_uniform = [low, high], got {spec!r}"
        )
    ((kind, values),) = spec.items()
    if kind == "choice":
        if not values:
            raise ValueError(f"random setting {name}: choice needs at least one value")
        return {"choice": [parse_value(name, v) for v in values]}
    if kind in ("uniform", "log_uniform"):
        low, high = (float(v) for v in values)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"random setting {name}: {kind} needs finite low < high, got {values!r}")
        if kind == "log_uniform" and low <= 0:
            raise ValueError(f"random setting {name}: log_uniform needs positive bounds, got {values!r}")
        return {kind: [low, high]}
    raise ValueError(
        f"random setting {name}: unknown distribution {kind!r}; use choice, uniform or log_uniform"
    )


MAX_RUNS_UNASKED = 1_000
"""Runs a sweep trains without ``--yes`` (or ``max_runs`` in its file): a mistyped grid is caught."""

MAX_RUNS = 1_000_000
"""Runs a sweep trains at all: its configurations are made in memory before the first one trains."""

MAX_SEEDS = 10_000
"""Most seeds per configuration: a list or count beyond this is refused before it is made."""

MAX_SAMPLES = 1_000_000
"""Most random configurations a sweep may draw; what it trains is bounded again by the runs' count."""


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: the base configuration, what varies, and the seeds. See the module's docstring."""

    base: TrainConfig = field(default_factory=TrainConfig)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    points: tuple[dict[str, Any], ...] = ()
    samples: int = 0
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    sample_seed: int = 0
    max_runs: int = 0  # runs trained without asking; 0: MAX_RUNS_UNASKED (the file's max_runs = N raises it)

    def __post_init__(self) -> None:
        if not is_integer(self.samples, 0, MAX_SAMPLES):
            raise ValueError(
                f"samples must be a whole number from 0 to {MAX_SAMPLES:,}, got {self.samples!r}"
            )
        if not is_integer(self.max_runs, 0, MAX_RUNS):
            raise ValueError(f"max_runs must be a whole number from 1 to {MAX_RUNS:,}, got {self.max_runs!r}")
        grid = {}
        for name, values in self.grid.items():
            values = tuple(parse_value(name, v) for v in values)
            if not values:
                raise ValueError(f"grid setting {name} has no values")
            grid[name] = tuple(dict.fromkeys(values))  # a value given twice is trained once
        object.__setattr__(self, "grid", grid)
        points = []
        for point in self.points:
            if not isinstance(point, dict):
                raise ValueError(f"each listed configuration is a table of settings, got {point!r}")
            points.append({name: parse_value(name, v) for name, v in point.items()})
        object.__setattr__(self, "points", tuple(points))
        dists = {name: _checked_distribution(name, d) for name, d in self.distributions.items()}
        object.__setattr__(self, "distributions", dists)
        if self.samples < 0 or (self.samples and not dists):
            raise ValueError("random samples need --samples N >= 1 and at least one --sample SETTING=...")
        if dists and not self.samples:
            raise ValueError("--sample settings need --samples N, the number of configurations to draw")
        seeds = tuple(int(s) for s in self.seeds)
        if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct whole numbers >= 0, got {list(self.seeds)}")
        object.__setattr__(self, "seeds", seeds)

    # ----- what it trains --------------------------------------------------------------------------

    def settings(self) -> list[dict[str, Any]]:
        """Each configuration's settings on top of ``base``: the grid's, the list's, then the draws'."""
        names = list(self.grid)
        chosen = (
            [dict(zip(names, combo)) for combo in itertools.product(*self.grid.values())] if names else []
        )
        chosen += [dict(p) for p in self.points]
        rng = np.random.default_rng([self.sample_seed, 15])
        for _ in range(self.samples):
            chosen.append({name: self._draw(name, d, rng) for name, d in self.distributions.items()})
        return chosen or [{}]

    def _draw(self, name: str, dist: dict[str, Any], rng: np.random.Generator) -> Any:
        ((kind, values),) = dist.items()
        if kind == "choice":
            return values[int(rng.integers(len(values)))]
        low, high = values
        x = (
            math.exp(rng.uniform(math.log(low), math.log(high)))
            if kind == "log_uniform"
            else rng.uniform(low, high)
        )
        return parse_value(name, round(x) if SETTINGS[name].kind == "int" else float(f"{x:.4g}"))

    def swept(self) -> list[str]:
        """The settings that take more than one value across the configurations, in a stable order."""
        seen: dict[str, set] = {}
        for s in self.settings():
            for name, value in s.items():
                seen.setdefault(name, set()).add(json.dumps(_plain(value)))
        return [n for n, values in seen.items() if len(values) > 1]

    def count(self) -> int:
        """How many trainings :meth:`runs` would make, counted without making them (a grid of 10^9
        configurations is counted, not enumerated); configurations that two parts both give count twice,
        so this is an upper bound."""
        grid = math.prod(len(values) for values in self.grid.values()) if self.grid else 0
        return max(grid + len(self.points) + self.samples, 1) * len(self.seeds)

    def check_size(self, confirmed: bool = False) -> int:
        """The count of runs, refused before any configuration is made when it is more than this sweep may
        train: :data:`MAX_RUNS` at all, and beyond ``max_runs`` (default :data:`MAX_RUNS_UNASKED`) only
        when ``confirmed`` (``digitnet sweep --yes``)."""
        count = self.count()
        grid = " x ".join(str(len(v)) for v in self.grid.values()) or "1"
        parts = (
            f"({grid} grid values, {len(self.points)} listed, {self.samples} drawn; "
            f"x {len(self.seeds)} seeds)"
        )
        unasked = self.max_runs or MAX_RUNS_UNASKED
        if count > MAX_RUNS:
            raise ValueError(
                f"this sweep would train {count:,} runs {parts}; a sweep trains at most {MAX_RUNS:,}"
            )
        if count > unasked and not confirmed:
            raise ValueError(
                f"this sweep would train {count:,} runs {parts}: more than {unasked:,} without asking; "
                f"pass --yes to train them all, or set max_runs = {count} in the sweep file"
            )
        return count

    def runs(self) -> list[Run]:
        """Every training: each configuration (checked by TrainConfig now, before anything trains) times
        each seed; a configuration that two parts both give is trained once."""
        runs, seen = [], set()
        for settings in self.settings():
            try:
                config = self.base.replace(**settings)
            except ValueError as exc:
                raise ValueError(f"the configuration {_plain(settings)} is not valid: {exc}") from None
            group = config_key({**config.key_dict(), "seed": None})
            for seed in self.seeds:
                seeded = config.replace(seed=seed)
                key = run_key(seeded)
                if key not in seen:
                    seen.add(key)
                    runs.append(Run(seeded, key, group, _plain(settings)))
        return runs

    # ----- as a file -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.key_dict(),
            "grid": {k: [_plain(v) for v in vs] for k, vs in self.grid.items()},
            "points": [_plain(p) for p in self.points],
            "samples": self.samples,
            "distributions": _plain(self.distributions),
            "seeds": list(self.seeds),
            "sample_seed": self.sample_seed,
        }


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively: the JSON form of settings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

"""A sweep file's content (JSON or TOML) as a :class:`~digitnet.sweeps.spec.SweepSpec`: every key and value
checked, and refused with the file and the key named, before anything is made."""

from __future__ import annotations

from typing import Any

from digitnet.checks import is_integer
from digitnet.sweeps.spec import MAX_RUNS, MAX_SAMPLES, MAX_SEEDS, SweepSpec, parse_value

__all__ = ["FILE_KEYS", "seed_list", "spec_from_mapping"]

FILE_KEYS = ("preset", "base", "grid", "list", "random", "seeds", "max_runs")


def spec_from_mapping(d: dict[str, Any], *, where: str = "the sweep file") -> SweepSpec:
    """A :class:`SweepSpec` from a sweep file's content (JSON or TOML)::

    preset = "default"              # the base recipe (default: "default")
    seeds = 3                       # 3 seeds, 0, 1 and 2; or a list: [0, 7]
    [base]                          # settings every run shares
    epochs = 10
    [grid]                          # every combination
    lr = [1e-3, 3e-3]
    hidden = [100, "16x16"]
    [[list]]                        # configurations one by one
    activation = "sigmoid"
    [random]                        # draws from distributions
    samples = 8
    seed = 0
    lr = {log_uniform = [1e-4, 1e-2]}
    """
    from digitnet.training.presets import get_preset

    if not isinstance(d, dict):
        raise ValueError(f"{where} holds no table of settings")
    unknown = sorted(set(d) - set(FILE_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; a sweep file has {', '.join(FILE_KEYS)}")
    base = get_preset(str(d.get("preset", "default")))
    fixed = d.get("base", {})
    if not isinstance(fixed, dict):
        raise ValueError(f"{where}: base must be a table of settings, got {fixed!r}")
    try:
        base = base.replace(**{name: parse_value(name, v) for name, v in fixed.items()})
    except TypeError as exc:
        raise ValueError(f"{where}: base: {exc}") from None
    grid = d.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) for v in grid.values()):
        raise ValueError(f"{where}: grid must be a table of lists of values, e.g. lr = [1e-3, 3e-3]")
    random = d.get("random", {})
    if not isinstance(random, dict):
        raise ValueError(f"{where}: random must be a table: samples = 8 and SETTING = {{uniform = [...]}}")
    random = dict(random)
    samples = _whole(f"{where}: random.samples", random.pop("samples", 0), MAX_SAMPLES)
    sample_seed = _whole(f"{where}: random.seed", random.pop("seed", 0), 2**63 - 1)
    points = d.get("list", [])
    if not isinstance(points, list):
        raise ValueError(f"{where}: list must be a list of tables of settings ([[list]] in TOML)")
    return SweepSpec(
        base=base,
        grid=grid,
        points=tuple(points),
        samples=samples,
        distributions=random,
        seeds=seed_list(d.get("seeds", 1)),
        sample_seed=sample_seed,
        max_runs=_whole(f"{where}: max_runs", d.get("max_runs", 0), MAX_RUNS),
    )


def _whole(name: str, value: Any, high: int) -> int:
    """``value`` as an int from 0 to ``high``; ``ValueError`` naming ``name`` for anything else."""
    if not is_integer(value, 0, high):
        raise ValueError(f"{name} must be a whole number from 0 to {high:,}, got {value!r}")
    return int(value)


def seed_list(seeds: Any) -> tuple[int, ...]:
    """``3`` -> (0, 1, 2); a list stays the list. At most :data:`MAX_SEEDS` either way, counted first."""
    if isinstance(seeds, (list, tuple)):
        if not all(is_integer(s, 0) for s in seeds) or len(seeds) > MAX_SEEDS:
            raise ValueError(
                f"seeds must be whole numbers >= 0, at most {MAX_SEEDS:,} of them, got {_short(seeds)}"
            )
        return tuple(int(s) for s in seeds)
    if not is_integer(seeds, 1, MAX_SEEDS):
        raise ValueError(f"seeds must be a count from 1 to {MAX_SEEDS:,} or a list of seeds, got {seeds!r}")
    return tuple(range(int(seeds)))


def _short(values: Any) -> str:
    shown = list(values[:5])
    return f"{shown}" if len(values) <= 5 else f"{shown[:-1]}... ({len(values):,} values)"

"""A sweep's results a person can read: each configuration's mean ± standard deviation over its seeds,
the best one chosen on validation (never on test), and a figure of accuracy against each swept setting.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["best_configuration", "setting_label", "summarise", "sweep_figure"]

MEASURES = ("val_accuracy", "test_accuracy", "train_seconds")


def _mean_std(values: list[float]) -> dict[str, float] | None:
    """Mean and the sample standard deviation (n - 1; 0 for one value), or None without values."""
    if not values:
        return None
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}


def summarise(spec, runs, records: dict[str, dict], failed: dict[str, str]) -> dict[str, Any]:
    """``results.json``'s content: every run, one row per configuration, the best, the failures.

    Each configuration's row has its swept ``settings``, the ``seeds`` done, and for each of
    validation accuracy, test accuracy and training seconds, ``{"mean", "std"}`` over those seeds.
    """
    swept = spec.swept()
    groups: dict[str, dict[str, Any]] = {}
    listed = []
    for run in runs:
        row = groups.setdefault(
            run.group,
            {
                "settings": {k: run.settings.get(k) for k in swept},
                "group": run.group,
                "seeds": [],
                "runs": [],
            },
        )
        record = records.get(run.key)
        entry = {"key": run.key, "seed": run.config.seed, "settings": run.settings}
        if record is not None:
            metrics = record["metrics"]
            entry.update({m: metrics.get(m) for m in (*MEASURES, "test_loss", "epochs_trained", "worker")})
            row["seeds"].append(run.config.seed)
            row["runs"].append(entry)
        elif run.key in failed:
            entry["error"] = failed[run.key]
        listed.append(entry)
    rows = []
    for row in groups.values():
        for m in MEASURES:
            row[m] = _mean_std([r[m] for r in row["runs"] if r.get(m) is not None])
        del row["runs"]
        rows.append(row)
    return {
        "swept": swept,
        "base": spec.base.to_dict(),
        "runs_total": len(runs),
        "runs_done": sum(1 for e in listed if "val_accuracy" in e or "test_accuracy" in e),
        "configurations": rows,
        "best": best_configuration(rows),
        "failed": [e for e in listed if "error" in e],
        "runs": listed,
    }


def best_configuration(rows: list[dict]) -> dict | None:
    """The row with the highest mean validation accuracy; None when no run had a validation split.
    The test accuracy is reported beside it, never used to choose."""
    scored = [r for r in rows if r.get("val_accuracy") is not None]
    return max(scored, key=lambda r: r["val_accuracy"]["mean"]) if scored else None


def setting_label(value: Any) -> str:
    """A setting's value as the command line writes it: ``[16, 16]`` -> ``16x16``, ``[[6], [16]]`` ->
    ``6/16``, ``[]`` -> ``none``."""
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return "/".join("x".join(str(f) for f in stage) for stage in value)
        return "x".join(str(v) for v in value) or "none"
    return str(value)


def sweep_figure(summary: dict[str, Any]):
    """Validation accuracy (mean ± sd over seeds) against each swept setting, one panel per setting; the
    configurations that share every other setting are joined by a line. None when nothing was swept."""
    from digitnet.plots import new_figure

    swept, rows = (
        summary["swept"],
        [r for r in summary["configurations"] if r["val_accuracy"] or r["test_accuracy"]],
    )
    if not swept or not rows:
        return None
    measure = "val_accuracy" if any(r["val_accuracy"] for r in rows) else "test_accuracy"
    fig, axes = new_figure(4.6 * len(swept), 3.8, ncols=len(swept), squeeze=False)
    for ax, name in zip(axes[0], swept):
        values = list(dict.fromkeys(json.dumps(r["settings"][name]) for r in rows))
        numeric = all(
            isinstance(json.loads(v), (int, float)) and not isinstance(json.loads(v), bool) for v in values
        )
        order = sorted(values, key=lambda v: json.loads(v)) if numeric else values
        position = {v: i for i, v in enumerate(order)}
        series: dict[str, list] = {}
        for r in rows:
            rest = ", ".join(f"{k}={setting_label(r['settings'][k])}" for k in swept if k != name)
            series.setdefault(rest, []).append(r)
        for rest, members in series.items():
            members.sort(key=lambda r: position[json.dumps(r["settings"][name])])
            x = [position[json.dumps(r["settings"][name])] for r in members]
            y = [100 * r[measure]["mean"] for r in members]
            e = [100 * r[measure]["std"] for r in members]
            ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=rest or None)
        ax.set_xticks(range(len(order)), [setting_label(json.loads(v)) for v in order])
        ax.set(xlabel=name, ylabel=f"{'validation' if measure == 'val_accuracy' else 'test'} accuracy (%)")
        ax.set_title(f"{'validation' if measure == 'val_accuracy' else 'test'} accuracy against {name}")
        if len(series) > 1:
            ax.legend(fontsize=7)
    seeds = max(len(r["seeds"]) for r in rows)
    fig.suptitle(f"Sweep: mean ± sd over {seeds} seed{'s' * (seeds > 1)} per configuration", fontsize=10)
    return fig

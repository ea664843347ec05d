"""The report as one self-contained HTML page: inline CSS, figures as PNG files beside it, no scripts.

Opens from disk in any browser (``file://``), needs no server and no network.
"""

from __future__ import annotations

import html
from typing import Any

from digitnet.nn.inspect import architecture_text

__all__ = ["render_page"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #666; font-size: 0.9em; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1.2em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 1em; min-width: 9em; }
.card b { display: block; font-size: 1.4em; }
img { max-width: 100%; height: auto; display: block; margin: 0.8em 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 1em; }
.caption { color: #444; font-size: 0.93em; }
.side { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
nav a { margin-right: 1em; }
"""

SECTIONS = (
    ("model", "Model"),
    ("training", "Training curves"),
    ("neurons", "First-layer neurons"),
    ("network", "One digit through the network"),
    ("mistakes", "Mistakes"),
    ("probabilities", "Probabilities"),
    ("calibration", "Calibration"),
)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def _num(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    if isinstance(x, list):
        return ",".join(map(str, x)) or "none"
    return "-" if x is None else str(x)


def _table(headers, rows, numeric=()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(report, name, alt) -> str:
    src = report["figures"].get(name)
    return f'<img src="{_e(src)}" alt="{_e(alt)}">' if src else ""


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _model(r) -> str:
    parts = [f"<pre>{_e(r['summary'])}</pre>", '<div class="side">']
    if r["training"]:
        parts.append("<div><h3>How it was trained (the recorded TrainConfig)</h3>")
        parts.append(
            _table(("setting", "value"), [(k, _num(v)) for k, v in r["training"].items()]) + "</div>"
        )
    else:
        parts.append(_note("The model file records no training settings."))
    metrics = r["recorded_metrics"]
    if metrics:
        rows = [
            (k, _pct(v) if k.endswith("accuracy") and isinstance(v, float) else _num(v))
            for k, v in metrics.items()
        ]
        parts.append("<div><h3>Results recorded when it was saved</h3>")
        parts.append(_table(("metric", "value"), rows, numeric=(1,)) + "</div>")
    else:
        parts.append(_note("The model file records no results."))
    return "".join(parts) + "</div>"


def _training(r) -> str:
    h = r["history"]
    if not h["epochs"]:
        return _note("The model file records no training history, so there are no curves to show.")
    parts = []
    if not h["has_validation"]:
        parts.append(
            _note("This model was trained without a validation split: only the training curves exist.")
        )
    parts.append(_figure(r, "training_curves", "loss and accuracy per epoch"))
    parts.append(
        '<p class="caption">Training figures are running averages over each epoch\'s mini-batches '
        "(with dropout active, if any), so they lag the weights at the epoch's end; validation figures "
        "are measured after the epoch.</p>"
    )
    if h.get("stopped_early"):
        parts.append(f"<p>Training stopped early; the weights are those of epoch {_e(h['best_epoch'])}.</p>")
    return "".join(parts)


def _neurons(r) -> str:
    n = r["neurons"]
    if n.get("convolutional"):
        return (
            f"<p>The first layer is convolutional: {n['filters']} filters of {n['kernel_size']}&times;"
            f"{n['kernel_size']} weights, each slid over the whole image, so each responds to its pattern "
            "wherever it appears. Top: the filters (<b style='color:#b2182b'>red</b> positive, "
            "<b style='color:#2166ac'>blue</b> negative). Bottom: the feature map each makes of one test "
            "digit.</p>" + _figure(r, "conv_filters", "first-layer filters and their feature maps")
        )
    if "skipped" in n:
        return _note(f"No neurons to show: {_e(n['skipped'])}.")
    shown = len(n["shown"])
    which = f"all {n['units']}" if shown == n["units"] else f"the {shown} most important of {n['units']}"
    return (
        f"<p>Each first-layer neuron computes a weighted sum of the 784 pixels; its weights, drawn as a "
        f"28&times;28 image, show the pattern of ink it responds to: <b style='color:#b2182b'>red</b> pixels "
        f"raise its activation, <b style='color:#2166ac'>blue</b> ones lower it, white ones do not matter. "
        f"Shown: {which} neurons, most important first.</p>"
        f"<p class='caption'><b>Importance</b>: {_e(n['importance_definition'])}. "
        f"{n['dead']} of {n['units']} neurons never activate on the test digits.</p>"
        + _figure(r, "neuron_weights", "incoming weights of first-layer neurons")
        + _figure(r, "neuron_top_digits", "test digits that excite each neuron most")
        + _figure(r, "neuron_importance", "importance of every neuron")
    )


def _network(r) -> str:
    n = r["network"]
    hidden = n["columns"][:-1]
    shown = ", ".join(f"{len(c['shown'])} of {c['size']}" for c in hidden) or "none"
    return (
        f"<p>Test digit {n['digit_index']} (a {n['label']}, read as {n['predicted']}) going through the "
        "network as <code>digitnet serve</code>'s drawing page shows it: each hidden layer's most active "
        f"neurons ({_e(shown)} here), shaded by activation, and into each the strongest connections "
        "that push it up, a&middot;w of the neuron before (pixels for the first layer), wider for "
        f"larger; {n['links']:,} links in all. The outputs are shaded by probability.</p>"
        + _figure(r, "network", "one test digit going through the network")
    )


def _mistakes(r) -> str:
    t = r["test"]
    rows = [
        (f"{p['true']} → {p['predicted']}", p["count"], _pct(p["share_of_true"], 1))
        for p in r["most_confused"]
    ]
    parts = [
        f"<p>{t['errors']:,} of {t['examples']:,} test digits are misclassified ({_pct(1 - t['accuracy'])}). "
        "Rows of the matrix are the true digit, columns the network's answer; the diagonal holds the right "
        "answers.</p>",
        _figure(r, "confusion_matrix", "confusion matrix"),
        "<h3>Most confused pairs</h3>",
        _table(("true → predicted", "test digits", "share of the true digit"), rows, numeric=(1, 2))
        if rows
        else "<p>No mistakes.</p>",
    ]
    if r["misclassified"]:
        parts.append(f"<h3>The first {len(r['misclassified'])} misclassified test digits</h3>")
        parts.append(_figure(r, "misclassified", "misclassified test digits"))
    return "".join(parts)


def _probabilities(r) -> str:
    return (
        "<p>The network's answer is a probability for each digit; the tallest bar is its guess. Shown: the "
        "first four test digits, the right answer it gave with least confidence, and the wrong answer it "
        "gave with most confidence.</p>" + _figure(r, "probabilities", "probability bars")
    )


def _calibration(r) -> str:
    c = r["calibration"]
    rows = [
        ("temperature T", "1 (none)", f"{c['temperature']:.4f}"),
        ("validation NLL", f"{c['validation_nll_before']:.4f}", f"{c['validation_nll_after']:.4f}"),
        ("test NLL", f"{c['test_nll_before']:.4f}", f"{c['test_nll_after']:.4f}"),
        ("test ECE", _pct(c["before"]["ece"]), _pct(c["after"]["ece"])),
    ]
    parts = [
        "<p>A calibrated network is right 80% of the time when it says 80%. The reliability diagram bins the "
        f"test digits by confidence (top probability) into {c['bins']} equal-width bins and compares each "
        "bin's accuracy with the diagonal. The <b>expected calibration error</b> is the count-weighted mean "
        "gap, ECE = &Sigma;<sub>b</sub> (|B<sub>b</sub>|/N) &middot; |acc(B<sub>b</sub>) &minus; "
        "conf(B<sub>b</sub>)|.</p>",
        "<p><b>Temperature scaling</b> divides the scores z by one number T before the softmax, "
        "softmax(z/T); T is chosen to minimise the negative log-likelihood on the "
        f"{_e(c['fitted_on'])}, never on test. T &gt; 1 means the network was over-confident, "
        "T &lt; 1 under-confident. The accuracy "
        f"does not change. Scores used as z: {_e(c['logits'])}.</p>",
    ]
    if c["validation_overlap_with_training"]:
        parts.append(
            _note(
                f"This model was trained on {c['validation_overlap_with_training']:,} of the validation "
                "images (it was trained with a smaller validation split): on them its confidence and "
                "accuracy are those of digits it has seen, not of new ones, so the fitted T is biased "
                "(usually too low) and the &ldquo;after&rdquo; figures are optimistic."
            )
        )
    parts.append(_table(("", "before", "after"), rows, numeric=(1, 2)))
    parts.append(_figure(r, "reliability", "reliability diagrams before and after temperature scaling"))
    parts.append(_reject(r))
    return "".join(parts)


def _reject(r) -> str:
    """Saying "not sure": the risk-coverage figure and what the model's threshold does."""
    j = r["reject"]
    parts = [
        "<h3>Saying &ldquo;not sure&rdquo;</h3><p>Answering only when the top probability clears a threshold "
        "trades answers for errors: the curve shows, as the threshold falls, the share of digits answered "
        "against the share of those answers that are wrong, on MNIST's test digits and on "
        f"{_e(j['drawn_digits'])}; temperature T = {j['temperature']:.3g}.</p>"
    ]
    rows = [
        (
            name,
            _pct(rec["threshold"]),
            _pct(rec["coverage"]),
            _pct(rec["errors_caught"]),
            _pct(rec["right_set_aside"]),
        )
        for name, rec in (("MNIST test", j["mnist"]), ("drawn", j["drawn"]))
        if "threshold" in rec
    ]
    if rows:
        parts.append(
            _table(
                ("digits", "not sure below", "answered", "errors caught", "right answers set aside"),
                rows,
                numeric=(1, 2, 3, 4),
            )
        )
    else:
        parts.append(
            _note("This model records no threshold: `digitnet calibrate` chooses one on drawn digits.")
        )
    parts.append(_figure(r, "risk_coverage", "risk against coverage"))
    return "".join(parts)


def render_page(r: dict[str, Any]) -> str:
    """The HTML page for a report dict from :func:`digitnet.report.build.build_report`."""
    title = f"digitnet report: {architecture_text(r['architecture'])}"
    t, c = r["test"], r["calibration"]
    cards = [
        ("test accuracy", _pct(t["accuracy"])),
        ("misclassified", f"{t['errors']:,} / {t['examples']:,}"),
        ("parameters", f"{r['parameters']:,}"),
        ("ECE before → after", f"{_pct(c['before']['ece'])} → {_pct(c['after']['ece'])}"),
        ("temperature T", f"{c['temperature']:.3f}"),
    ]
    renderers = {
        "model": _model,
        "training": _training,
        "neurons": _neurons,
        "network": _network,
        "mistakes": _mistakes,
        "probabilities": _probabilities,
        "calibration": _calibration,
    }
    body = "".join(
        f'<section id="{key}"><h2>{i}. {_e(name)}</h2>{renderers[key](r)}</section>'
        for i, (key, name) in enumerate(SECTIONS, start=1)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{_e(r["model"])} &middot; digitnet {_e(r["digitnet_version"])} &middot; \
saved {_e(r["created"])}
&middot; scored on the {t["examples"]:,} MNIST test digits &middot; report built in {r["seconds"]:.1f} s</p>
<div class="cards">{"".join(f"<div class='card'>{_e(k)}<b>{_e(v)}</b></div>" for k, v in cards)}</div>
<nav>{"".join(f'<a href="#{key}">{_e(name)}</a>' for key, name in SECTIONS)}</nav>
{body}
<p class="meta">Numbers behind every figure: <a href="report.json">report.json</a>.</p>
</body></html>
"""

"""A careless or hostile sweep file or flag is refused with a message naming what is wrong, before anything
is made: no traceback, no silent truncation, and no sweep counted by enumerating it."""

import json
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitnet.cli.main import build_parser, main
from digitnet.cli.sweep import spec_from_args
from digitnet.sweeps.spec import MAX_RUNS_UNASKED
from digitnet.sweeps.sweep_file import spec_from_mapping


def sweep_args(*argv):
    return build_parser().parse_args(["sweep", *map(str, argv)])


@pytest.mark.parametrize(
    "content, message",
    [
        ([], "holds no table of settings"),
        ({"base": 5}, "base must be a table of settings"),
        ({"grid": 5}, "grid must be a table of settings"),
        ({"random": []}, "random must be a table of settings"),
        ({"list": 5}, "list must be a list of tables"),
        ({"seeds": [1.5]}, "seeds must be whole numbers >= 0"),
        ({"seeds": [True]}, "seeds must be whole numbers >= 0"),
        ({"seeds": 1_000_000_000}, "seeds must be a count from 1 to 10,000"),
        ({"base": {"epochs": 1e300}}, "epochs must be an integer from 1 to 100000, got 1e\\+300"),
        ({"grid": {"epochs": [True]}}, "epochs must be an integer from 1 to 100000, got True"),
        ({"random": {"samples": "x"}}, "random.samples must be a whole number"),
        ({"max_runs": -1}, "max_runs must be a whole number from 0"),
    ],
)
def test_a_malformed_sweep_file_is_refused_naming_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message):
        spec_from_args(sweep_args("--file", path))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(["preset", "base", "grid", "list", "random", "seeds", "max_runs", "epochs", "lr"])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(KEYS, JSON, max_size=4) | JSON)
def test_any_json_is_a_sweep_or_a_message(content):
    try:
        spec = spec_from_mapping(content, where="f.json") if isinstance(content, dict) else None
        if spec is not None and spec.count() <= MAX_RUNS_UNASKED:
            spec.runs()
    except ValueError:
        pass  # what the CLI prints as "digitnet sweep: error: ..."


def test_a_huge_sweep_is_counted_not_enumerated_and_needs_confirming(tmp_path, capsys):
    grid = {name: list(range(1, 11)) for name in ("epochs", "batch_size", "patience", "kernel_size")}
    grid.update(lr=[x / 1000 for x in range(1, 11)], hidden=list(range(1, 10_001)))  # 10^5 x 10^4 = 10^9
    wide = {"grid": grid}
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(wide))
    tracemalloc.start()
    code = main(["sweep", "--file", str(path), "--out", str(tmp_path / "out"), "--yes"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 1 and "would train 1,000,000,000 runs" in err and "at most 1,000,000" in err
    assert peak < 50e6 and not (tmp_path / "out").exists()  # counted, not made


def test_more_than_a_thousand_runs_need_yes_or_max_runs(tmp_path):
    args = ["--grid", "lr=" + ",".join(f"{x / 10000:g}" for x in range(1, 101)), "--seeds", "11"]
    spec = spec_from_args(sweep_args(*args))
    assert spec.count() == 1100
    with pytest.raises(ValueError, match="would train 1,100 runs .* pass --yes .* max_runs = 1100"):
        spec.check_size()
    assert spec.check_size(confirmed=True) == 1100
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"max_runs": 2000}))
    assert spec_from_args(sweep_args("--file", path, *args)).check_size() == 1100


SETTINGS = st.sampled_from(["epochs", "lr", "hidden", "conv", "batch_norm", "seed", "kernel_size", "nope"])
VALUES = JSON | st.integers(min_value=10**30, max_value=10**400) | st.lists(JSON, max_size=3)
TABLES = st.dictionaries(SETTINGS, VALUES, max_size=3)
SPECS = st.fixed_dictionaries(
    {},
    optional={
        "base": TABLES | JSON,
        "grid": TABLES | JSON,
        "random": st.dictionaries(SETTINGS | st.just("samples"), VALUES, max_size=3) | JSON,
        "list": st.lists(TABLES, max_size=2) | JSON,
        "seeds": VALUES,
        "max_runs": VALUES,
    },
)


def _toml(value) -> str:
    """A TOML rendering good enough to fuzz with: tables of scalars and arrays, junk where TOML has none."""
    if isinstance(value, dict):
        lines = [f"{k} = {_toml(v)}" for k, v in value.items() if not isinstance(v, dict)]
        lines += [f"[{k}]\n{_toml(v)}" for k, v in value.items() if isinstance(v, dict)]
        return "\n".join(lines)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    spec=SPECS,
    form=st.sampled_from(["json", "toml", "deep-json", "deep-toml", "cut"]),
    cut=st.integers(0, 200),
)
def test_any_sweep_file_through_the_command_line_is_a_sweep_or_a_message(tmp_path_factory, spec, form, cut):
    """The whole door: a file read as ``digitnet sweep --file`` reads it, merged with the flags, counted."""
    from digitnet.errors import DigitnetError

    text = {
        "json": lambda: json.dumps(spec),
        "toml": lambda: _toml(spec),
        "deep-json": lambda: '{"base": ' + "[" * 50_000,
        "deep-toml": lambda: "grid = " + "[" * 5_000 + "]" * 5_000,
        "cut": lambda: json.dumps(spec)[:cut],
    }[form]()
    path = tmp_path_factory.mktemp("f") / ("sweep.toml" if "toml" in form else "sweep.json")
    path.write_text(text)
    try:
        parsed = spec_from_args(sweep_args("--file", path, "--grid", "lr=1e-3,2e-3"))
        if parsed.count() <= MAX_RUNS_UNASKED:
            parsed.runs()
    except (ValueError, DigitnetError) as exc:
        assert len(str(exc)) < 2_000, "a message, not a dump"

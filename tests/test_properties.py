"""Property-based guarantees (hypothesis): malformed inputs end in one clear error, never worse.

For generated malformed jet files (truncations, random bytes, wrong dtypes, object columns,
missing and extra columns, NaN/inf, unphysical four-vectors, empty tables) and malformed
command-line values, every reader and command either does the right thing or ends in a
:class:`JetaeError` / exit code 2 with one line naming the file or option: no traceback,
nothing left behind, no code run.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jetae import JetaeError
from jetae.cli.main import main
from jetae.io.check import check_sample
from jetae.io.toptag import count_jets, jets_to_frame, read_jets, write_jets
from toys import prong_jets

N_JETS, N_SLOTS = 12, 6
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def base_frame() -> pd.DataFrame:
    return jets_to_frame(prong_jets(N_JETS, 1, seed=3, n_constituents=N_SLOTS), n_constituents=N_SLOTS)


def momentum_columns() -> list[str]:
    return [c for c in base_frame().columns if c[:2] in ("E_", "PX", "PY", "PZ")]


# Each mutation: (frame, draw) -> (frame to write or None, bytes to write or None, readable?)
@st.composite
def malformed_files(draw) -> tuple[str, pd.DataFrame | None, bytes | None, str]:
    """``(description, frame or None, raw bytes or None, storage format)``."""
    frame = base_frame()
    storage = draw(st.sampled_from(["table", "fixed"]))
    kind = draw(
        st.sampled_from(
            [
                "truncated",
                "random_bytes",
                "nan_inf",
                "unphysical",
                "missing_column",
                "string_column",
                "object_column",
                "empty_table",
                "extra_column",
                "negative_energy",
            ]
        )
    )
    columns = momentum_columns()
    row = draw(st.integers(0, N_JETS - 1))
    slot = draw(st.integers(0, 1))  # every toy jet has real constituents in slots 0 and 1
    if kind == "truncated":
        return kind, frame, None, storage  # the written file is cut below
    if kind == "random_bytes":
        return kind, None, draw(st.binary(min_size=0, max_size=4096)), storage
    if kind == "nan_inf":
        column = draw(st.sampled_from(columns))
        frame.loc[row, column] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif kind == "unphysical":
        frame.loc[row, f"E_{slot}"] = frame.loc[row, f"E_{slot}"] * draw(st.floats(0.0, 0.99))
    elif kind == "negative_energy":
        frame.loc[row, f"E_{slot}"] = -draw(st.floats(1e-3, 1e3))
    elif kind == "missing_column":
        drop = draw(st.lists(st.sampled_from(columns + ["is_signal_new"]), min_size=1, max_size=5, unique=True))
        frame = frame.drop(columns=drop)
    elif kind == "string_column":
        column = draw(st.sampled_from(columns + ["is_signal_new", "ttv"]))
        frame[column] = frame[column].astype(str)
    elif kind == "object_column":
        column = draw(st.sampled_from(columns + ["extra"]))
        frame[column] = pd.Series([[1.0, 2.0]] * len(frame), dtype=object)
        storage = "fixed"  # the table format cannot store lists
    elif kind == "empty_table":
        frame = frame.iloc[:0]
    elif kind == "extra_column":
        frame["extra_weight"] = np.linspace(0.0, 1.0, len(frame))
    return kind, frame, None, storage


def write_malformed(directory: Path, example: tuple, cut: float) -> Path:
    kind, frame, raw, storage = example
    path = directory / f"{kind}.h5"
    if raw is not None:
        path.write_bytes(raw)
        return path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame.to_hdf(path, key="table", format=storage, mode="w")
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut)])
    return path


def expected_ok(kind: str) -> bool:
    """Mutations the readers must accept (the layout allows extra columns)."""
    return kind == "extra_column"


@given(example=malformed_files(), cut=st.floats(0.0, 0.99))
@SETTINGS
def test_readers_accept_or_refuse_with_one_line(example, cut):
    kind = example[0]
    with tempfile.TemporaryDirectory() as directory:
        path = write_malformed(Path(directory), example, cut)
        readers = {"read_jets": read_jets, "count_jets": count_jets, "check_sample": check_sample}
        for name, reader in readers.items():
            try:
                result = reader(path)
            except JetaeError as error:
                message = str(error)
                assert str(path) in message and "\n" not in message, (kind, name, message)
                assert not expected_ok(kind), (kind, name, message)
                continue
            if name == "read_jets":
                assert expected_ok(kind), f"{kind}: read_jets accepted a malformed file"
                assert len(result) == N_JETS
            if name == "check_sample" and not expected_ok(kind) and kind != "truncated":
                # check_sample opens what a reader opens; it must then flag the content.
                assert not result["ok"], (kind, result["problems"])
        assert sorted(p.name for p in Path(directory).iterdir()) == [path.name], "a reader left files behind"


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse
            code = exit_.code
    return int(code or 0), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trained")
    qcd = write_jets(root / "qcd.h5", prong_jets(80, 1, seed=1, n_constituents=N_SLOTS), n_constituents=N_SLOTS)
    run = root / "run"
    code, _, err = run_cli(
        [
            "train",
            "pca",
            "--train",
            str(qcd),
            "--out",
            str(run),
            "--set",
            "representation.n_pixels=8",
            "--set",
            "n_components=2",
        ]
    )
    assert code == 0, err
    return {"qcd": qcd, "run": run}


def assert_one_error_line(code: int, err: str, command: str, names: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.strip() and not line.startswith(("INFO", "WARNING"))]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"jetae {command}: error:") and names in errors[0], err


@given(example=malformed_files(), cut=st.floats(0.0, 0.99))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_commands_on_malformed_files_exit_2_with_one_line_and_nothing_written(trained, example, cut):
    kind = example[0]
    if expected_ok(kind):
        return
    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        path = write_malformed(directory, example, cut)
        out = directory / "out"
        commands = {
            "info": ["info", str(path)],
            "train": ["train", "pca", "--train", str(path), "--out", str(out / "run")],
            "score": ["score", str(trained["run"]), str(path), "--out", str(out / "scores.h5")],
        }
        for command, argv in commands.items():
            code, _, err = run_cli(argv)
            assert_one_error_line(code, err, command, str(path))
            assert not out.exists() or not any(out.iterdir()), f"{command} left output behind"
        code, _, err = run_cli(["check", str(path)])
        assert code in (1, 2) and "Traceback" not in err


NUMBERS = st.one_of(st.integers(-(10**6), 0).map(str), st.sampled_from(["", "x", "1.5", "nan", "inf", "1e3.2", "--"]))


@given(option=st.sampled_from(["--n-train", "--epochs", "--seed"]), value=NUMBERS)
@SETTINGS
def test_bad_numeric_options_of_train_are_one_line(trained, option, value):
    if option == "--seed" and value.lstrip("-").isdigit():
        return  # any integer is a valid seed
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "run"
        code, _, err = run_cli(["train", "pca", "--train", str(trained["qcd"]), "--out", str(out), option, value])
        assert_one_error_line(code, err, "train", option)
        assert not out.exists() and not Path(str(out) + ".partial").exists()


@given(
    setting=st.one_of(
        st.sampled_from(
            [
                "lr",
                "=1",
                "n_components=",
                "representation.n_pixels=abc",
                "representation=3",
                "no_such_key=1",
                "n_components=-2",
                "representation.n_pixels=0",
                "n_components=[1",
                "n_components={a: 1}",
            ]
        ),
        st.text(min_size=1, max_size=20).filter(lambda text: "=" not in text),
    )
)
@SETTINGS
def test_bad_set_options_are_one_line(trained, setting):
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "run"
        code, _, err = run_cli(["train", "pca", "--train", str(trained["qcd"]), "--out", str(out), "--set", setting])
        assert_one_error_line(code, err, "train", "")
        assert not out.exists() and not Path(str(out) + ".partial").exists()


@given(option=st.sampled_from(["--n-max", "--n-bootstrap"]), value=NUMBERS)
@SETTINGS
def test_bad_numeric_options_of_evaluate_are_one_line(trained, option, value):
    if option == "--n-bootstrap" and value == "0":
        return  # no bootstrap is allowed
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "report"
        code, _, err = run_cli(
            [
                "evaluate",
                str(trained["run"]),
                "--background",
                str(trained["qcd"]),
                "--signal",
                str(trained["qcd"]),
                "--out",
                str(out),
                option,
                value,
            ]
        )
        assert_one_error_line(code, err, "evaluate", option)
        assert not out.exists()


@given(value=NUMBERS)
@SETTINGS
def test_bad_numeric_options_of_info_and_generate_are_one_line(value):
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "jets.h5"
        code, _, err = run_cli(["generate", "qcd", "--n", value, "--out", str(out)])
        assert_one_error_line(code, err, "generate", "--n")
        assert not out.exists()
        code, _, err = run_cli(["info", "--max-jets", value, str(out)])
        assert_one_error_line(code, err, "info", "--max-jets")


def test_an_h5py_file_without_pandas_metadata_is_refused(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as handle:
        handle["table"] = np.zeros((3, 4))
    with pytest.raises(JetaeError, match="not a pandas DataFrame"):
        read_jets(path)

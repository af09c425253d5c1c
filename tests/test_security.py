"""No code runs from a data file: crafted pickles in jet files, at every entry point that reads jets.

Each crafted file is first shown to be dangerous (pandas/PyTables, which jetae used to read
through, runs its payload), then read through every jetae entry point, which must refuse it
with one line naming the file and the node, and never run the payload.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from jetae import JetaeError
from jetae.cli.main import main
from jetae.io.cache import read_cached
from jetae.io.safe_pickle import decode_pickle
from jetae.io.toptag import count_jets, iter_jets, jets_to_frame, read_jets, write_jets
from toys import prong_jets


class Payload:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def toy_frame(n: int = 40) -> pd.DataFrame:
    return jets_to_frame(prong_jets(n, 1, seed=4, n_constituents=10), n_constituents=10)


def fixed_object_column(path: Path, marker: Path) -> Path:
    """Reference layout in pandas' fixed format plus an object column of pickled payloads."""
    frame = toy_frame()
    frame["payload"] = pd.Series([Payload(marker)] * len(frame), dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns about pickling object columns
        frame.to_hdf(path, key="table", format="fixed", mode="w")
    return path


def table_pickled_attribute(path: Path, marker: Path) -> Path:
    """Reference layout in table format whose column-name attribute is a malicious pickle."""
    toy_frame().to_hdf(path, key="table", format="table", mode="w")
    with h5py.File(path, "r+") as handle:
        handle["table/table"].attrs["values_block_0_kind"] = np.bytes_(pickle.dumps(Payload(marker), protocol=0))
    return path


CRAFTED = {"fixed_object_column": fixed_object_column, "table_pickled_attribute": table_pickled_attribute}


@pytest.fixture(params=sorted(CRAFTED))
def crafted(request, tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "code_ran"
    path = CRAFTED[request.param](tmp_path / f"{request.param}.h5", marker)
    # The file really is dangerous: reading it with pandas runs the payload.
    try:
        pd.read_hdf(path, "table")
    except Exception:  # noqa: BLE001 - the payload's return value breaks pandas afterwards; it ran anyway
        pass
    assert marker.exists(), "the crafted file does not run code through pandas; the test proves nothing"
    marker.unlink()
    return path, marker


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("good")
    qcd = write_jets(root / "qcd.h5", prong_jets(120, 1, seed=1, n_constituents=20), n_constituents=20)
    top = write_jets(root / "top.h5", prong_jets(60, 3, seed=2, n_constituents=20), n_constituents=20)
    run = root / "run"
    assert (
        main(
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
        == 0
    )
    return {"qcd": qcd, "top": top, "run": run}


def cli_commands(bad: Path, good: dict[str, Path], out: Path) -> dict[str, list[str]]:
    return {
        "info": ["info", str(bad)],
        "check": ["check", str(bad)],
        "score": ["score", str(good["run"]), str(bad), "--out", str(out / "scores.h5")],
        "train": ["train", "pca", "--train", str(bad), "--out", str(out / "run")],
        "train --val": ["train", "pca", "--train", str(good["qcd"]), "--val", str(bad), "--out", str(out / "run")],
        "evaluate --background": [
            "evaluate",
            str(good["run"]),
            "--background",
            str(bad),
            "--signal",
            str(good["top"]),
            "--out",
            str(out / "report"),
        ],
        "evaluate --signal": [
            "evaluate",
            str(good["run"]),
            "--background",
            str(good["qcd"]),
            "--signal",
            str(bad),
            "--out",
            str(out / "report"),
        ],
    }


def test_every_cli_entry_point_refuses_without_running_code(crafted, good, tmp_path, capsys, monkeypatch):
    bad, marker = crafted
    monkeypatch.setenv("JETAE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    for name, command in cli_commands(bad, good, out).items():
        assert main(command) == 2, name
        err = capsys.readouterr().err
        assert "Traceback" not in err, name
        lines = [line for line in err.splitlines() if "error:" in line]
        assert len(lines) == 1 and str(bad) in lines[0], (name, err)
        assert "never unpickles" in lines[0] or "pickle" in lines[0], (name, lines[0])
        assert not marker.exists(), f"`jetae {name}` ran code from the file"
        assert not out.exists() or not any(out.iterdir()), f"`jetae {name}` left output behind"


@pytest.mark.parametrize(
    "reader",
    [
        lambda path: read_jets(path),
        lambda path: read_cached(path, n_max=5),
        lambda path: read_jets(path, on_unphysical="drop"),
        lambda path: read_cached(path),
        lambda path: count_jets(path),
        lambda path: list(iter_jets(path)),
    ],
    ids=["read_jets", "read_cached(n_max)", "read_jets(drop)", "read_cached", "count_jets", "iter_jets"],
)
def test_every_api_reader_refuses_without_running_code(crafted, reader, tmp_path, monkeypatch):
    bad, marker = crafted
    monkeypatch.setenv("JETAE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(JetaeError) as error:
        reader(bad)
    assert str(bad) in str(error.value) and "\n" not in str(error.value)
    assert not marker.exists()


def test_the_reader_never_imports_pickle_machinery(good, monkeypatch):
    """Reading a good file never calls pickle (PyTables would, for its attributes)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a jet read tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    assert len(read_jets(good["qcd"])) == 120 and count_jets(good["top"]) == 60


def test_decode_pickle_reads_plain_data_and_refuses_everything_else():
    plain = [("a", 1), {"b": [1.5, None, True, 2**70]}, (), "é", [1] * 2000]
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        assert decode_pickle(pickle.dumps(plain, protocol=protocol)) == plain
    assert decode_pickle(pickle.dumps([b"x"], protocol=3)) == [b"x"]  # (protocols < 3 pickle bytes as a call)
    for evil in (Payload(Path("/nonexistent/marker")), {1, 2}, np.float64(1.0), print):
        for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
            with pytest.raises(JetaeError, match="never unpickles"):
                decode_pickle(pickle.dumps(evil, protocol=protocol))
    with pytest.raises(JetaeError, match="not a readable pickle"):
        decode_pickle(b"\x80\x04\x95garbage")

"""Physical validity of jets on reading, the drop option, and ``jetae check``."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from jetae import JetaeError, Jets
from jetae.cli.main import main
from jetae.io.check import check_sample
from jetae.io.toptag import iter_jets, jets_to_frame, read_jets, write_jets
from jetae.io.validate import find_problems, unphysical_constituents
from toys import prong_jets


def toy(n: int = 30) -> Jets:
    return prong_jets(n, 1, seed=5, n_constituents=12)


def test_massless_float32_constituents_are_physical():
    # E = |p| written as four float32 numbers is off by rounding only: never flagged.
    jets = prong_jets(2000, 3, seed=1, n_constituents=40)
    assert not unphysical_constituents(jets.constituents).any()


def test_unphysical_constituents_are_counted_and_refused(tmp_path):
    jets = toy()
    jets.constituents[3, 0, 0] *= 0.9  # E < |p|
    jets.constituents[7, 1, 0] = -5.0  # negative energy
    jets.constituents[7, 2, 0] *= 0.5
    path = write_jets(tmp_path / "bad.h5", jets, n_constituents=12)
    with pytest.raises(JetaeError) as error:
        read_jets(path)
    message = str(error.value)
    assert str(path) in message and "3 unphysical constituent(s)" in message and "in 2 jet(s)" in message
    assert "rows [3, 7]" in message and "--drop-unphysical" in message


def test_drop_unphysical_keeps_the_good_jets_and_logs_the_count(tmp_path, caplog):
    jets = toy()
    jets.constituents[[2, 9], 0, 0] *= 0.5
    path = write_jets(tmp_path / "bad.h5", jets, n_constituents=12)
    with caplog.at_level(logging.WARNING):
        kept = read_jets(path, on_unphysical="drop")
    assert len(kept) == len(jets) - 2
    keep = np.ones(len(jets), bool)
    keep[[2, 9]] = False
    np.testing.assert_array_equal(kept.constituents[:, :12], jets.constituents[keep])
    assert "dropped 2 jet(s) with 2 unphysical constituent(s)" in caplog.text
    # Streaming with drop: chunk by chunk, the same jets.
    streamed = Jets.concatenate(list(iter_jets(path, chunk_size=4, on_unphysical="drop")))
    np.testing.assert_array_equal(streamed.constituents, kept.constituents)
    with pytest.raises(JetaeError, match="on_unphysical must be one of"):
        read_jets(path, on_unphysical="ignore")


def test_a_file_of_only_unphysical_jets_dropped_is_empty(tmp_path):
    jets = toy(5)
    jets.constituents[:, 0, 0] = -1.0
    path = write_jets(tmp_path / "all_bad.h5", jets, n_constituents=12)
    with pytest.raises(JetaeError, match="contains no jets"):
        read_jets(path, on_unphysical="drop")


def test_find_problems_reports_each_kind_once_with_file_rows():
    constituents = toy(6).constituents.copy()
    constituents[1, 0, 2] = np.nan
    constituents[2] = 0.0
    constituents[4, 0, 0] = -1.0
    labels = {"is_signal_new": np.array([0, 1, 0.5, 0, 0, np.nan])}
    problems = {p.kind: p for p in find_problems(constituents, labels, offset=100)}
    assert set(problems) == {"non-finite", "empty", "unphysical", "labels"}
    assert problems["non-finite"].rows == [101] and problems["empty"].rows == [102]
    assert problems["unphysical"].rows == [104] and problems["labels"].rows == [102, 105]


def test_check_passes_a_good_file_and_says_what_it_found(tmp_path, capsys):
    jets = toy(40)
    frame = jets_to_frame(jets, n_constituents=12)
    frame["weight"] = 1.0
    path = tmp_path / "good.h5"
    frame.to_hdf(path, key="table", format="fixed", mode="w")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: OK" in out and "jets          40" in out and "'fixed' format" in out
    assert "extra columns 1 (ignored by jetae): weight" in out and "problems      none" in out
    report = check_sample(path)
    assert report["ok"] and report["n_slots"] == 12 and report["label_counts"]["background"] == 40


def test_check_lists_every_problem_and_exits_1(tmp_path, capsys):
    jets = toy(40)
    jets.constituents[5, 0, 0] *= 0.5
    jets.constituents[6] = 0.0
    jets.constituents[7, 3, 1] = np.inf
    jets.constituents[8, 0], jets.constituents[8, 1] = jets.constituents[8, 1].copy(), jets.constituents[8, 0].copy()
    good = write_jets(tmp_path / "good.h5", toy(10), n_constituents=12)
    bad = write_jets(tmp_path / "bad.h5", jets, n_constituents=12)
    assert main(["check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: OK" in out and f"{bad}: PROBLEMS" in out
    assert "NaN or inf momenta: 1 jet(s), e.g. rows [7]" in out
    assert "jets without constituents: 1 jet(s), e.g. rows [6]" in out
    assert "unphysical constituents (E < 0 or E < |p|): 1 constituent(s) in 1 jet(s), e.g. rows [5]" in out
    assert "1 not in decreasing pT" in out


def test_check_of_an_unreadable_file_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "not a readable HDF5 file" in err


def test_info_drops_unphysical_jets_only_when_asked(tmp_path, capsys):
    jets = toy(20)
    jets.constituents[4, 0, 0] = -3.0
    path = write_jets(tmp_path / "bad.h5", jets, n_constituents=12)
    assert main(["info", str(path)]) == 2
    assert "1 unphysical constituent(s)" in capsys.readouterr().err
    assert main(["info", "--drop-unphysical", str(path)]) == 0
    assert "jets          19" in capsys.readouterr().out


def test_score_and_evaluate_drop_unphysical_jets_only_when_asked(tmp_path, capsys):
    qcd = write_jets(tmp_path / "qcd.h5", prong_jets(150, 1, seed=1, n_constituents=12), n_constituents=12)
    top = prong_jets(60, 3, seed=2, n_constituents=12)
    top.constituents[0, 0, 0] = -1.0
    top_file = write_jets(tmp_path / "top.h5", top, n_constituents=12)
    run = tmp_path / "run"
    assert main(["train", "pca", "--train", str(qcd), "--out", str(run), "--set", "representation.n_pixels=8"]) == 0
    scores = tmp_path / "scores.h5"
    report = tmp_path / "report"
    assert main(["score", str(run), str(top_file), "--out", str(scores)]) == 2
    assert main(["evaluate", str(run), "--background", str(qcd), "--signal", str(top_file), "--out", str(report)]) == 2
    assert "unphysical" in capsys.readouterr().err and not scores.exists() and not report.exists()
    assert main(["score", str(run), str(top_file), "--out", str(scores), "--drop-unphysical"]) == 0
    assert "scored 59 jets" in capsys.readouterr().out
    assert (
        main(
            [
                "evaluate",
                str(run),
                "--background",
                str(qcd),
                "--signal",
                str(top_file),
                "--out",
                str(report),
                "--drop-unphysical",
            ]
        )
        == 0
    )

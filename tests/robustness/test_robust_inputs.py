"""The bad-input catalogue: hostile files, options, checkpoints and run folders given to the CLI.

Each row is ``(id, argv, words)``: the command must exit with status 2, print no traceback and
exactly one ``kernelops <cmd>: error:`` line containing every word. ``{d}`` is the folder of
bad files, ``{run}`` a private copy of a finished tiny run, ``{series}`` a good series file,
``{tmp}`` the test's own folder (also the working directory). docs/failure_modes.md describes
what the user should do in each case.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from robust_helpers import TINY, assert_clean_failure, run_cli

#: a file the malicious payloads below would create if anything ever unpickled them
PAYLOAD_MARKER = "PAYLOAD_RAN"


class _Payload:
    """Unpickling this calls open(marker, "w"): the marker file proves code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory, tiny_run_template: Path) -> Path:
    """Every hostile file of the catalogue, in one folder."""
    d = tmp_path_factory.mktemp("bad")
    marker = d / PAYLOAD_MARKER
    text = {
        "nan.csv": "a,b\n1,2\n3,nan\n4,5\n",
        "inf.csv": "a,b\n1,2\n3,inf\n4,5\n",
        "empty_column.csv": "a,b\n1,\n3,\n4,\n",
        "text.csv": "a,b\n1,2\n3,x\n4,5\n",
        "no_header.csv": "1,2\n3,4\n5,6\n",
        "empty.csv": "",
        "header_only.csv": "a,b\n",
        "ragged.csv": "a,b\n1,2\n3\n4,5\n",
        "short.csv": "a\n" + "1\n" * 5,
        "data.txt": "1\n2\n",
    }
    for name, content in text.items():
        (d / name).write_text(content)
    (d / "binary.csv").write_bytes(b"a,b\n" + bytes(range(128, 256)))
    np.save(d / "four_d.npy", np.zeros((2, 3, 4, 5)))
    inf = np.ones((40, 2))
    inf[7, 1] = np.inf
    np.save(d / "inf.npy", inf)
    np.save(d / "complex.npy", np.ones((40, 2), dtype=complex))
    np.save(d / "strings.npy", np.array(["a", "b", "c"]))
    np.save(d / "one_window.npy", np.random.default_rng(0).random((1, 8, 2)))
    np.save(d / "evil.npy", np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    np.savez(d / "multi.npz", a=np.random.default_rng(1).random((40, 2)), b=np.zeros((30, 1)))
    # checkpoints that are not
    (d / "random.pt").write_bytes(np.random.default_rng(2).bytes(4096))
    (d / "empty.pt").write_bytes(b"")
    good = (tiny_run_template / "checkpoint.pt").read_bytes()
    (d / "truncated.pt").write_bytes(good[: len(good) // 2])
    torch.save({"format": "kernelops.spectral_mean_flow", "obj": _Payload(marker)}, d / "evil.pt")
    (d / "pickle.pt").write_bytes(pickle.dumps(_Payload(marker)))
    np.save(d / "array.pt", np.zeros(3))  # np.save keeps a name ending in .npy... so rename below
    (d / "array.pt.npy").rename(d / "array.pt")
    torch.save({"weights": torch.zeros(3)}, d / "foreign.pt")
    torch.save([torch.zeros(3)], d / "list.pt")
    # evaluate inputs
    rng = np.random.default_rng(3)
    np.save(d / "two.npy", rng.random((2, 8, 2)))
    np.save(d / "real.npy", rng.random((40, 8, 2)))
    np.save(d / "three_features.npy", rng.random((40, 8, 3)))
    np.save(d / "flat.npy", rng.random((40, 8)))
    nan3 = rng.random((40, 8, 2))
    nan3[3, 4, 1] = np.nan
    np.save(d / "nan3.npy", nan3)
    return d


FIT = ["fit", "--out", "{tmp}/out", "--steps", "2", *TINY]
CASES: list[tuple[str, list[str], list[str]]] = [
    # -- user data files
    # a nan cell is a missing value (fit trains on the observed entries); infinity stays an error
    ("csv-inf", [*FIT, "--data", "{d}/inf.csv"], ["inf.csv", "column 'b'", "infinite", "'inf'"]),
    # an empty cell is a missing value; a column with no value at all is an error
    ("csv-empty-column", [*FIT, "--data", "{d}/empty_column.csv"], ["empty_column.csv", "column 'b'", "no values"]),
    ("csv-non-numeric", [*FIT, "--data", "{d}/text.csv"], ["text.csv", "not numeric", "'x'", "--columns"]),
    ("csv-no-header", [*FIT, "--data", "{d}/no_header.csv"], ["no_header.csv", "looks like data, not a header"]),
    ("csv-empty", [*FIT, "--data", "{d}/empty.csv"], ["empty.csv", "empty"]),
    ("csv-header-only", [*FIT, "--data", "{d}/header_only.csv"], ["header_only.csv", "no data rows"]),
    ("csv-ragged", [*FIT, "--data", "{d}/ragged.csv"], ["ragged.csv", "line 3 has 1 fields"]),
    ("csv-binary", [*FIT, "--data", "{d}/binary.csv"], ["binary.csv", "not a UTF-8 text file"]),
    ("csv-unknown-column", [*FIT, "--data", "{d}/nan.csv", "--columns", "zz"], ["no column 'zz'", "a, b"]),
    ("series-too-short", [*FIT, "--data", "{d}/short.csv"], ["short.csv", "5 steps, fewer than the window of 24"]),
    ("window-too-small", [*FIT, "--data", "{series}", "--window", "1"], ["window", "at least 2"]),
    ("unsupported-type", [*FIT, "--data", "{d}/data.txt"], ["data.txt", "unsupported file type"]),
    ("missing-file", [*FIT, "--data", "{d}/missing.csv"], ["missing.csv"]),
    ("npy-4d", [*FIT, "--data", "{d}/four_d.npy"], ["four_d.npy", "(2, 3, 4, 5)"]),
    ("npy-inf", [*FIT, "--data", "{d}/inf.npy"], ["inf.npy", "infinite", "(7, 1)"]),
    ("npy-complex", [*FIT, "--data", "{d}/complex.npy"], ["complex.npy", "real numeric"]),
    ("npy-strings", [*FIT, "--data", "{d}/strings.npy"], ["strings.npy", "real numeric"]),
    ("npy-one-window", [*FIT, "--data", "{d}/one_window.npy"], ["one_window.npy", "holds 1 window", "at least 2"]),
    ("npy-pickled-objects", [*FIT, "--data", "{d}/evil.npy"], ["evil.npy", "cannot read"]),
    ("npz-several-arrays", [*FIT, "--data", "{d}/multi.npz"], ["multi.npz", "2 arrays (a, b)", "--key"]),
    ("npz-unknown-key", [*FIT, "--data", "{d}/multi.npz", "--key", "zz"], ["no array 'zz'", "a, b"]),
    ("key-without-npz", [*FIT, "--data", "{series}", "--key", "a"], ["--key", ".npz"]),
    # -- options
    ("lr-inf", [*FIT, "--lr", "inf"], ["lr", "finite", "inf"]),
    ("lr-nan", [*FIT, "--lr", "nan"], ["lr", "nan"]),
    ("lr-negative", [*FIT, "--lr", "-1"], ["--lr", "-1"]),
    ("steps-zero", ["fit", "--steps", "0"], ["--steps", "positive"]),
    ("stride-zero", [*FIT, "--data", "{series}", "--stride", "0"], ["--stride"]),
    ("unknown-path", [*FIT, "--path", "nope"], ["unknown path 'nope'", "ot, ve, vp"]),
    ("unknown-solver", [*FIT, "--solver", "nope"], ["unknown solver 'nope'", "rk4"]),
    ("unknown-dataset", [*FIT, "--dataset", "nope"], ["unknown dataset 'nope'", "sines"]),
    ("dataset-and-data", [*FIT, "--dataset", "sines", "--data", "{series}"], ["--dataset", "--data", "not both"]),
    ("resume-with-data", ["fit", "--resume", "{run}", "--data", "{series}"], ["--resume", "do not combine"]),
    ("out-holds-a-run", [*FIT[:1], "--out", "{run}", "--steps", "2", *TINY], ["already holds a run", "--resume"]),
    # -- checkpoints that are not (none may run pickled code, none may suggest weights_only=False)
    ("ckpt-random-bytes", ["sample", "{d}/random.pt", "--num", "2"], ["random.pt", "not a kernelops checkpoint"]),
    ("ckpt-empty", ["sample", "{d}/empty.pt", "--num", "2"], ["empty.pt", "not a kernelops checkpoint", "empty"]),
    ("ckpt-truncated", ["sample", "{d}/truncated.pt", "--num", "2"], ["truncated.pt", "truncated or damaged"]),
    ("ckpt-malicious", ["sample", "{d}/evil.pt", "--num", "2"], ["evil.pt", "not a kernelops checkpoint", "never unpickles"]),
    ("ckpt-bare-pickle", ["sample", "{d}/pickle.pt", "--num", "2"], ["pickle.pt", "not a kernelops checkpoint", "pickle"]),
    ("ckpt-npy", ["sample", "{d}/array.pt", "--num", "2"], ["array.pt", "not a kernelops checkpoint", ".npy"]),
    ("ckpt-foreign-dict", ["sample", "{d}/foreign.pt", "--num", "2"], ["foreign.pt", "not a kernelops.spectral_mean_flow checkpoint"]),
    ("ckpt-list", ["sample", "{d}/list.pt", "--num", "2"], ["list.pt", "not a kernelops checkpoint", "list"]),
    ("ckpt-truncated-on-resume", ["fit", "--resume", "{run}"], ["checkpoint.pt", "truncated or damaged"]),
    # -- run folders
    ("resume-missing-folder", ["fit", "--resume", "{tmp}/nowhere"], ["nowhere", "no run folder"]),
    ("resume-before-first-checkpoint", ["fit", "--resume", "{tmp}/empty_run"], ["checkpoint.pt does not exist", "start it again"]),
    ("resume-corrupt-config", ["fit", "--resume", "{run}"], ["config.json", "corrupt"]),
    ("resume-config-not-object", ["fit", "--resume", "{run}"], ["config.json", "JSON list"]),
    ("resume-corrupt-loss-csv", ["fit", "--resume", "{run}"], ["loss.csv", "corrupt", "move it aside"]),
    ("sample-folder-without-checkpoint", ["sample", "{tmp}/empty_run", "--num", "2"], ["no checkpoint.pt"]),
    ("sample-missing", ["sample", "{tmp}/nowhere", "--num", "2"], ["nowhere"]),
    ("sample-num-zero", ["sample", "{run}", "--num", "0"], ["--num"]),
    ("sample-unknown-solver", ["sample", "{run}", "--num", "2", "--solver", "nope"], ["unknown solver 'nope'"]),
    ("evaluate-folder-without-config", ["evaluate", "{tmp}/bare"], ["bare", "no config.json"]),
    ("evaluate-corrupt-config", ["evaluate", "{run}"], ["config.json", "not valid JSON"]),
    # -- evaluate inputs
    ("evaluate-too-few-windows", ["evaluate", "--real", "{d}/two.npy", "--fake", "{d}/two.npy"], ["only 2 windows", "at least 10"]),
    ("evaluate-num-too-small", ["evaluate", "{run}", "--num", "3"], ["--num", "at least 10"]),
    ("evaluate-feature-mismatch", ["evaluate", "--real", "{d}/real.npy", "--fake", "{d}/three_features.npy"], ["3 features", "2"]),
    ("evaluate-wrong-rank", ["evaluate", "--real", "{d}/real.npy", "--fake", "{d}/flat.npy"], ["flat.npy", "(n, seq_len, features)"]),
    ("evaluate-nan", ["evaluate", "--real", "{d}/nan3.npy", "--fake", "{d}/real.npy"], ["nan3.npy", "NaN", "(3, 4, 1)"]),
    ("evaluate-missing", ["evaluate", "--real", "{d}/nope.npy", "--fake", "{d}/real.npy"], ["nope.npy", "no such file"]),
]

#: cases that need the run folder damaged in a particular way first
DAMAGE = {
    "ckpt-truncated-on-resume": lambda run: (run / "checkpoint.pt").write_bytes((run / "checkpoint.pt").read_bytes()[:300]),
    "resume-corrupt-config": lambda run: (run / "config.json").write_text("{bad json"),
    "evaluate-corrupt-config": lambda run: (run / "config.json").write_text("{bad json"),
    "resume-config-not-object": lambda run: (run / "config.json").write_text("[1, 2]"),
    "resume-corrupt-loss-csv": lambda run: (run / "loss.csv").write_bytes(bytes(range(128, 256))),
}


@pytest.mark.parametrize("case, argv, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_with_one_line(case, argv, words, bad, tiny_run, series_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_run").mkdir()
    (tmp_path / "empty_run" / "config.json").write_text((tiny_run / "config.json").read_text())  # killed before step 1
    (tmp_path / "bare").mkdir()
    if case in DAMAGE:
        DAMAGE[case](tiny_run)
    filled = [a.format(d=bad, run=tiny_run, series=series_file, tmp=tmp_path) for a in argv]
    result = run_cli(capsys, *filled)
    line = assert_clean_failure(result, 2, words, command=argv[0])
    assert "weights_only" not in line
    assert not (bad / PAYLOAD_MARKER).exists(), "a pickled payload ran"
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


def test_a_usage_error_is_argparse_usage_and_one_error_line(capsys):
    result = run_cli(capsys, "fit", "--skip", "bogus")
    assert result.rc == 2 and "Traceback" not in result.err
    assert result.err.splitlines()[-1].startswith("kernelops fit: error: argument --skip: invalid choice: 'bogus'")


def test_kill_before_the_first_checkpoint_is_still_a_run_folder(tiny_run, capsys):
    """config.json is written when a run starts: evaluate recognises the folder and says what is missing."""
    (tiny_run / "checkpoint.pt").unlink()
    result = run_cli(capsys, "evaluate", str(tiny_run), "--num", "10", "--no-plots")
    assert_clean_failure(result, 2, ["neither fake_scaled.npy nor checkpoint.pt"], command="evaluate")


# -- wanted behaviour that used to be wrong ----------------------------------------------------------
def test_sample_into_an_existing_directory_writes_inside_it(tiny_run, tmp_path, capsys):
    out = tmp_path / "samples"
    out.mkdir()
    result = run_cli(capsys, "sample", str(tiny_run), "--num", "3", "--out", str(out))
    assert result.rc == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == ["fake.npy", "fake_scaled.npy"]
    assert np.load(out / "fake.npy").shape == (3, 8, 2)
    assert not (tmp_path / "samples.npy").exists()
    # a path ending in a slash is a directory too, created when missing
    result = run_cli(capsys, "sample", str(tiny_run), "--num", "3", "--out", f"{tmp_path}/new/")
    assert result.rc == 0 and (tmp_path / "new" / "fake_scaled.npy").exists()


def test_npz_key_is_recorded_and_used_on_resume(bad, tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.chdir(tmp_path)
    args = ["--data", str(bad / "multi.npz"), "--key", "a", "--window", "8", "--out", "run", *TINY]
    assert run_cli(capsys, "fit", *args, "--steps", "2").rc == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["source"]["key"] == "a" and config["dataset"]["shape"] == [33, 8, 2]
    result = run_cli(capsys, "fit", "--resume", "run", "--steps", "3", "--no-progress")
    assert result.rc == 0, result.err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["step"] == 3


def test_unknown_solver_option_names_the_keyword_and_the_accepted_ones():
    import kernelops as ko
    from kernelops.errors import UnknownOptionError

    with pytest.raises(UnknownOptionError, match=r"solver 'rk4' takes no option 'bogus'; its options: none"):
        ko.solver("rk4", bogus=1)
    with pytest.raises(UnknownOptionError, match=r"path 'vp' takes no option 'sigma'; its options: beta_min, beta_max"):
        ko.path("vp", sigma=1.0)
    # an adaptive solver forwards **options to torchdiffeq, which would ignore a typo with a warning
    with pytest.raises(TypeError, match=r"solver 'dopri5' takes no option 'tolerance'; its options: rtol, atol, first_step"):
        ko.solver("dopri5", tolerance=1e-3)  # still a TypeError for code that catches that
    assert ko.solver("dopri5", rtol=1e-3) is not None  # accepted options still work

"""Issue 31, item 2: ``reproduce`` never silently replaces a study it did not produce. Run as a user runs it
(a subprocess) on a copy of the committed ``results/`` folder: one line naming ``--force`` and another
``--out``, exit 2, and not a byte of the folder changed."""
import os
import shutil

from test_cli_bad_input import cli, one_error_line, snapshot

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")


def test_2_reproduce_quick_into_the_committed_study_is_refused_and_changes_nothing(tmp_path):
    study = shutil.copytree(RESULTS, tmp_path / "results")
    before = snapshot(study)
    line = one_error_line(cli("reproduce", "--out", study, "--quick"),
                          f"minimlp-colorize reproduce: error: --out {study} holds a study (reproduce) with other "
                          f"settings (runs.json: ", "not run by this command",
                          "pass --force to replace its report, or choose another --out")
    assert snapshot(study) == before
    assert "Traceback" not in line


def test_2_report_only_rewrites_the_report_of_the_study_it_finds(tmp_path):
    """``--report-only`` trains nothing and reports the runs the folder holds, so it is not refused."""
    study = shutil.copytree(RESULTS, tmp_path / "results")
    result = cli("reproduce", "--out", study, "--report-only")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(study)) == sorted(os.listdir(RESULTS))

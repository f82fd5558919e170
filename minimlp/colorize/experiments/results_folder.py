"""A results folder holds one study (``reproduce``: ``runs.json``) or one sweep (``sweep.json``), never a mix.

Run again with the same settings, a command continues what the folder holds
(finished runs are reused). With other settings it would replace the folder's
report with one of runs it did not produce, so it is refused before anything
is written, unless ``--force``; the message says what the folder holds.
"""
import json
import os

RECORDS = {"reproduce": "runs.json", "sweep": "sweep.json"}   # the file each command keeps its runs in
WHAT = {"reproduce": "a study (reproduce)", "sweep": "a sweep"}


def stored_runs(out, kind):
    """The run names (with their seed, 'NAME-sN') recorded by command ``kind`` in ``out``; None if none are."""
    path = os.path.join(out, RECORDS[kind])
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if kind == "sweep":
        return sorted(record)
    return sorted(f"{run}-s{seed}" for run, summary in record["summaries"].items()
                  for seed in range(summary["seeds"]))


def check_results_folder(out, kind, planned, force=False):
    """Refuse to run ``kind`` ('reproduce' or 'sweep') into ``out`` when it holds other results.

    ``planned``: the names ('NAME-sN') of the runs this command would report. Returns True when ``out``
    holds results of other settings that ``force`` lets this command replace, else False.
    """
    other = next((k for k in RECORDS if k != kind and stored_runs(out, k) is not None), None)
    if other is not None:
        raise ValueError(f"--out {out} holds {WHAT[other]} ({RECORDS[other]}), not {WHAT[kind]}: choose "
                         f"another --out")
    stored = stored_runs(out, kind)
    if stored is None or stored == sorted(planned):
        return False
    if force:
        return True
    gone = sorted(set(stored) - set(planned))
    new = sorted(set(planned) - set(stored))
    differs = (f"{len(gone)} of them, e.g. {gone[0]}, not run by this command" if gone else
               f"this command adds {len(new)}, e.g. {new[0]}")
    raise ValueError(f"--out {out} holds {WHAT[kind]} with other settings ({RECORDS[kind]}: {len(stored)} runs, "
                     f"{differs}): pass --force to replace its report, or choose another --out")

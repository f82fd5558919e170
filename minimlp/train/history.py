"""History: one row of numbers per epoch, written to CSV."""
import csv
import io

from ..atomic import write_text

COLUMNS = ("epoch", "train_loss", "train_eval_loss", "valid_loss", "lr", "seconds")


class History:
    """Per-epoch training record.

    Columns: ``epoch`` (1-based), ``train_loss`` (running mean over the epoch's
    steps, in training mode, while the weights were still moving),
    ``train_eval_loss`` (the training set re-measured in evaluation mode with
    the epoch's final weights), ``valid_loss`` (evaluation mode), ``lr`` (the
    learning rate of the epoch's last step) and ``seconds`` (wall time of the
    epoch, evaluation included).
    """

    def __init__(self, rows=None):
        self.rows = [dict(r) for r in (rows or [])]

    def append(self, **row):
        self.rows.append({c: row.get(c) for c in COLUMNS})

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def column(self, name):
        return [r[name] for r in self.rows]

    def best(self, name="valid_loss"):
        values = [(r[name], r) for r in self.rows if r[name] is not None]
        return min(values, key=lambda t: t[0])[1] if values else None

    def to_csv(self, path):
        """Write the table atomically (temporary file, then rename)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})
        write_text(path, buf.getvalue())

    @classmethod
    def from_csv(cls, path):
        rows = []
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                rows.append({k: (None if r[k] == "" else (int(r[k]) if k == "epoch" else float(r[k])))
                             for k in COLUMNS})
        return cls(rows)

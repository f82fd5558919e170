"""Progress of a whole sweep on the driver: runs done, running, failed, waiting, and an ETA.

Every event (a run started, finished, failed, retried) prints one line; an
epoch reported by a Ray task updates the counts and prints a status line at
most every ``every`` seconds. The ETA divides the time spent in this
invocation by the work done in it (epochs where the executor reports them,
else whole runs) and multiplies by the work left: crude, but honest about
what it knows.
"""
import time


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class SweepProgress:
    def __init__(self, names, reused=(), log=print, every=30.0, epochs_per_run=None):
        self.names = list(names)
        self.reused = set(reused)
        self.log = log
        self.every = every
        self.running, self.results, self.errors = set(), {}, {}
        self.epochs = {}          # name -> (epochs done, epochs in all), from executors that report them
        self.started_at = time.perf_counter()
        self._last_status = 0.0
        if self.reused:
            log(f"sweep: {len(self.reused)} of {len(self.names)} runs already done (their scores.json), reused")

    # counts -------------------------------------------------------------------------------------------------
    def status(self):
        done = len(self.reused) + len(self.results)
        waiting = len(self.names) - done - len(self.running) - len(self.errors)
        elapsed = time.perf_counter() - self.started_at
        text = (f"{done}/{len(self.names)} done, {len(self.running)} running, {len(self.errors)} failed, "
                f"{waiting} waiting; {_clock(elapsed)} elapsed")
        eta = self.eta(elapsed)
        return text + (f", ETA {_clock(eta)}" if eta is not None else "")

    def eta(self, elapsed):
        todo = [n for n in self.names if n not in self.reused]
        if self.epochs:
            total = {n: self.epochs[n][1] for n in self.epochs}
            per_run = max(total.values())
            done = sum(self.epochs[n][0] - self.epochs[n][2] for n in self.epochs)
            left = sum(per_run if n not in self.epochs else total[n] - self.epochs[n][0]
                       for n in todo if n not in self.results and n not in self.errors)
        else:
            done = len(self.results)
            left = len(todo) - len(self.results) - len(self.errors)
        if done <= 0:
            return None
        return elapsed / done * left

    # events -------------------------------------------------------------------------------------------------
    def started(self, name, where=""):
        self.running.add(name)
        self.log(f"[{self.status()}] {name}: started{' ' + where if where else ''}")

    def epoch(self, name, epoch, epochs, resumed_from=0):
        first = self.epochs.get(name, (0, epochs, resumed_from))[2]
        self.epochs[name] = (epoch, epochs, first)
        now = time.perf_counter()
        if now - self._last_status >= self.every:
            self._last_status = now
            self.log(f"[{self.status()}] {name}: epoch {epoch}/{epochs}")

    def note(self, name, text):
        self.log(f"[{self.status()}] {name}: {text}")

    def finished(self, name, scores):
        self.running.discard(name)
        self.results[name] = scores
        self.log(f"[{self.status()}] {name}: train {scores['train']:.5f} valid {scores['valid']:.5f} "
                 f"test {scores['test']:.5f} ({scores['seconds']:.0f} s of training)")

    def failed(self, name, error):
        self.running.discard(name)
        text = str(error).strip().splitlines()
        self.errors[name] = f"{type(error).__name__}: {text[-1] if text else ''}"
        self.log(f"[{self.status()}] {name}: FAILED ({self.errors[name]})")

    def summary(self):
        self.log(f"sweep: {self.status()}")

"""Build the embedded default dataset, minimlp/data/default/paper_split_seed0.tar.gz (+ .json).

Takes the paper's split (seed 0: 5,000 train / 500 valid from CIFAR-10's
training set, 1,000 test from its test set) of the shared JPEG archive and
stores those 6,500 original JPEG files, unchanged, with a manifest.

    python examples/build_default_data.py [path/to/cifar10-jpeg.tar.gz]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minimlp.data import build_default, shared_archive_path  # noqa: E402
from minimlp.data.default import DEFAULT_ARCHIVE  # noqa: E402


def main(argv):
    archive = Path(argv[0]) if argv else shared_archive_path()
    if archive is None:
        sys.exit("the shared archive was not found: pass its path or set MINIMLP_SHARED_DATA")
    out = build_default(archive, DEFAULT_ARCHIVE, seed=0)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {out.with_suffix('').with_suffix('.json')}")


if __name__ == "__main__":
    main(sys.argv[1:])

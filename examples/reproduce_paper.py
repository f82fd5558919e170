"""Rerun the paper's studies and write RESULTS.md: the same as `minimlp-colorize reproduce`.

    python examples/reproduce_paper.py --out results --epochs 80 --seeds 3 --jobs 2
    python examples/reproduce_paper.py --out /tmp/quick --quick
"""
import sys

from minimlp.colorize.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce"] + sys.argv[1:]))

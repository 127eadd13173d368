"""The compiled tree walk against the forest's own predict on the same prepared rows (by hand, not in CI).

The seed's model (the book's preparation + a 30-tree forest, max_features 8, random_state 42, fitted on
the housing training set); 1,000,000 training rows drawn with replacement and prepared once. Alternating in
one process: ``forest.predict`` on every core (the anchor) and ``TreeWalk.predict`` on as many threads.
Prints each run, the ratio of medians, and whether the walk equals a one-job forest bit for bit.

    HONE_DATA_DIR=../shared/data .venv/bin/python bench/treewalk.py [--rows 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from joblib import effective_n_jobs
from seed import housing_train, seed_model  # bench/seed.py, beside this script

from hone.launch.treewalk import TreeWalk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pipeline, X = seed_model(housing_train())
    forest = pipeline[-1]
    forest.n_jobs = -1
    rows = X.sample(n=args.rows, replace=True, random_state=0)
    prepared = np.asarray(pipeline[0].transform(rows), dtype=np.float64)
    walk = TreeWalk([tree.tree_ for tree in forest.estimators_], 1, threads=effective_n_jobs(-1))
    walk.predict(prepared[:100].astype(np.float32))  # compiles the kernel, or loads it from the cache

    anchor, ours = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        forest.predict(prepared)
        anchor.append(time.perf_counter() - start)
        start = time.perf_counter()
        walked = walk.predict(prepared.astype(np.float32))[:, 0]  # the cast is part of the walk's cost
        ours.append(time.perf_counter() - start)
    forest.n_jobs = 1
    identical = np.array_equal(walked, forest.predict(prepared))

    print(f"{args.rows:,} prepared rows, 30 trees, {effective_n_jobs(-1)} threads each")
    print("   forest.predict (n_jobs=-1): " + ", ".join(f"{t:.2f} s" for t in anchor))
    print("   TreeWalk.predict:           " + ", ".join(f"{t:.2f} s" for t in ours))
    ratio = statistics.median(ours) / statistics.median(anchor)
    same = "yes" if identical else "NO"
    print(f"   ratio walk / forest (medians): {ratio:.3f}; bit-identical to n_jobs=1: {same}")


if __name__ == "__main__":
    main()

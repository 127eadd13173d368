"""A forest's trees walked by compiled code: scikit-learn's leaves and sums, 2-2.5x faster on big batches.

scikit-learn walks one row down one tree at a time, and every node is a branch the CPU guesses wrong half
the time. Here the next node is chosen without a branch (a select on the comparison) and eight rows walk a
tree side by side, so the CPU overlaps eight independent chains of memory loads. A leaf points to itself,
so a row that has arrived stays put until the other seven have. Rows go through in blocks that stay in
cache while every tree walks them, and blocks are split across threads (the kernel releases the GIL).

Exactness: scikit-learn compares the row's float32 value with the float64 threshold. For a float32 ``x``,
``x <= t`` holds exactly when ``x`` is at most the largest float32 not above ``t``, so thresholds are kept
rounded down to float32 and every comparison comes out the same. Each row's leaf values are added in tree
order from zero, then divided by the number of trees: scikit-learn's own sequence of float operations, so
the result is bit for bit the same as a one-job forest. NaN and infinite inputs are the caller's to refuse
(scikit-learn routes NaN by each node's ``missing_go_to_left``; this walk does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

# One node in 16 bytes (four to a cache line); a leaf has threshold +inf and both children itself.
NODE = np.dtype([("threshold", np.float32), ("feature", np.int32), ("left", np.int32), ("right", np.int32)])
# Rows per block: this many rows of a typical prepared matrix (24 float32 columns) is ~1.5 MB, so a block
# and the tree being walked share the core's 2 MB L2 cache (16,384 measured best of 4,096 to 16,384).
BLOCK_BYTES = 1_536 * 1024
# Fewer rows than this per thread are not worth starting a thread for.
ROWS_PER_THREAD = 1024


class TreeWalk:
    """A fitted forest's trees in one flat node table; ``predict`` averages their leaf values."""

    def __init__(
        self, trees: Sequence[Any], width: int, *, threads: int = 1, block_bytes: int = BLOCK_BYTES
    ) -> None:
        """``trees``: the estimators' ``tree_`` objects; ``width``: 1 for a regressor, else the classes."""
        sizes = [tree.node_count for tree in trees]
        self.roots = np.concatenate([[0], np.cumsum(sizes[:-1])]).astype(np.int64)
        self.nodes = np.zeros(sum(sizes), dtype=NODE)
        self.values = np.empty((sum(sizes), width), dtype=np.float64)
        for root, tree in zip(self.roots, trees, strict=True):
            self._flatten(tree, int(root), width)
        self.n_trees = len(sizes)
        self.threads = max(1, threads)
        self.block_bytes = block_bytes

    def _flatten(self, tree: Any, root: int, width: int) -> None:
        ids = np.arange(tree.node_count)
        leaf = tree.children_left == -1
        threshold = round_down_to_float32(tree.threshold)
        threshold[leaf] = np.inf
        span = slice(root, root + tree.node_count)
        self.nodes["threshold"][span] = threshold
        self.nodes["feature"][span] = np.where(leaf, 0, tree.feature)
        self.nodes["left"][span] = root + np.where(leaf, ids, tree.children_left)
        self.nodes["right"][span] = root + np.where(leaf, ids, tree.children_right)
        self.values[span] = tree.value[:, 0, :width]

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 - scikit-learn's naming
        """Average leaf values per row, shape (rows, width); ``X`` float32 and finite."""
        X = np.ascontiguousarray(X, dtype=np.float32)  # noqa: N806
        total = np.zeros((X.shape[0], self.values.shape[1]), dtype=np.float64)
        block = max(64, self.block_bytes // max(1, 4 * X.shape[1]))
        n_parts = min(self.threads, max(1, X.shape[0] // ROWS_PER_THREAD))
        bounds = np.linspace(0, X.shape[0], n_parts + 1).astype(int)
        parts = list(zip(bounds[:-1], bounds[1:], strict=True))
        if len(parts) == 1:
            _walk(X, self.nodes, self.values, self.roots, block, total)
        else:
            with ThreadPoolExecutor(len(parts)) as pool:
                done = [
                    pool.submit(_walk, X[lo:hi], self.nodes, self.values, self.roots, block, total[lo:hi])
                    for lo, hi in parts
                ]
                for future in done:
                    future.result()
        total /= self.n_trees
        return total


def round_down_to_float32(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 at most each threshold (for float32 x: x <= t  <=>  x <= this)."""
    with np.errstate(over="ignore"):  # beyond float32's range: +-inf, then stepped back below if need be
        rounded = threshold.astype(np.float32)
    above = rounded.astype(np.float64) > threshold
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


@numba.njit(nogil=True, cache=True)
def _walk(X, nodes, values, roots, block, total):  # type: ignore[no-untyped-def]  # noqa: N803
    n_rows = X.shape[0]
    width = values.shape[1]
    for lo in range(0, n_rows, block):
        hi = min(n_rows, lo + block)
        eights = lo + (hi - lo) // 8 * 8
        for root in roots:
            for s in range(lo, eights, 8):
                # Eight rows, eight independent walks: written out so that each lives in a register.
                c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = root
                while True:
                    n = nodes[c0]
                    d0 = n.right if X[s, n.feature] > n.threshold else n.left
                    n = nodes[c1]
                    d1 = n.right if X[s + 1, n.feature] > n.threshold else n.left
                    n = nodes[c2]
                    d2 = n.right if X[s + 2, n.feature] > n.threshold else n.left
                    n = nodes[c3]
                    d3 = n.right if X[s + 3, n.feature] > n.threshold else n.left
                    n = nodes[c4]
                    d4 = n.right if X[s + 4, n.feature] > n.threshold else n.left
                    n = nodes[c5]
                    d5 = n.right if X[s + 5, n.feature] > n.threshold else n.left
                    n = nodes[c6]
                    d6 = n.right if X[s + 6, n.feature] > n.threshold else n.left
                    n = nodes[c7]
                    d7 = n.right if X[s + 7, n.feature] > n.threshold else n.left
                    if (
                        d0 == c0
                        and d1 == c1
                        and d2 == c2
                        and d3 == c3
                        and d4 == c4
                        and d5 == c5
                        and d6 == c6
                        and d7 == c7
                    ):
                        break
                    c0, c1, c2, c3, c4, c5, c6, c7 = d0, d1, d2, d3, d4, d5, d6, d7
                for k in range(width):
                    total[s, k] += values[c0, k]
                    total[s + 1, k] += values[c1, k]
                    total[s + 2, k] += values[c2, k]
                    total[s + 3, k] += values[c3, k]
                    total[s + 4, k] += values[c4, k]
                    total[s + 5, k] += values[c5, k]
                    total[s + 6, k] += values[c6, k]
                    total[s + 7, k] += values[c7, k]
            for i in range(eights, hi):
                c = root
                while True:
                    n = nodes[c]
                    d = n.right if X[i, n.feature] > n.threshold else n.left
                    if d == c:
                        break
                    c = d
                for k in range(width):
                    total[i, k] += values[c, k]

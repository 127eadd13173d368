"""The one parity check every search test uses: hone's cv_results_ against scikit-learn's."""

from __future__ import annotations

import numpy as np


def assert_same_results(ours, theirs, rtol: float = 1e-9) -> None:
    """Same candidates in the same order, split/mean/std scores within ``rtol``, identical ranks, param
    columns (dtype, values, mask), keys and best candidate."""
    a, b = ours.cv_results_, theirs.cv_results_
    assert a["params"] == b["params"], "candidates differ or are in another order"
    score_keys = [k for k in b if k.startswith(("split", "mean_test", "mean_train", "std_test", "std_train"))]
    assert score_keys, "sklearn gave no score keys?"
    for key in score_keys:
        np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=0, err_msg=key)
    for key in [k for k in b if k.startswith("rank_")]:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for key in [k for k in b if k.startswith("param_")]:
        assert a[key].dtype == b[key].dtype, key
        assert list(a[key]) == list(b[key]), key
        np.testing.assert_array_equal(np.ma.getmaskarray(a[key]), np.ma.getmaskarray(b[key]), err_msg=key)
    assert set(a) == set(b)
    assert ours.best_index_ == theirs.best_index_
    assert ours.best_params_ == theirs.best_params_

"""Write scikit-learn's bundled breast cancer data as a CSV a user could bring: an ID, gaps, text labels.

569 patients, 30 numeric measurements, the diagnosis as text (``malignant`` / ``benign``), a ``patient_id``
column (not a feature: listed under data.id) and about 3% missing values in two columns (imputed by the
preparation). Fixed seed: the same file every time.

    .venv/bin/python examples/breast_cancer/make_data.py [OUTPUT.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

MISSING_SHARE = 0.03
MISSING_IN = ("mean_texture", "worst_smoothness")


def breast_cancer_table(seed: int = 0) -> pd.DataFrame:
    bunch = load_breast_cancer()
    features = pd.DataFrame(bunch.data, columns=[name.replace(" ", "_") for name in bunch.feature_names])
    rng = np.random.default_rng(seed)
    for column in MISSING_IN:
        gaps = rng.random(len(features)) < MISSING_SHARE
        features.loc[gaps, column] = np.nan
    ids = pd.Series([f"P{100000 + 2 * i}" for i in range(len(features))], name="patient_id")
    diagnosis = pd.Series(np.asarray(bunch.target_names)[bunch.target], name="diagnosis")
    return pd.concat([ids, features, diagnosis], axis=1)


def main() -> None:
    output = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("breast_cancer.csv"))
    table = breast_cancer_table()
    table.to_csv(output, index=False)
    print(f"wrote {len(table)} rows ({table.isna().sum().sum()} missing values) to {output}")


if __name__ == "__main__":
    main()

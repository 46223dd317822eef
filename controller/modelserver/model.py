"""A loaded scikit-learn classifier: the only place that touches joblib and numpy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np

from controller.modelserver.protocol import Instance, Label, Prediction


class ModelLoadError(Exception):
    pass


@dataclass(frozen=True)
class Model:
    estimator: Any
    n_features: int
    path: Path

    def predict(self, instances: list[Instance]) -> list[Prediction]:
        rows = np.asarray(instances, dtype=np.float64)
        if not hasattr(self.estimator, "predict_proba"):
            return [Prediction(_plain(label), None) for label in self.estimator.predict(rows)]
        probabilities = self.estimator.predict_proba(rows)
        best = probabilities.argmax(axis=1)
        labels = self.estimator.classes_[best]
        scores = probabilities[np.arange(len(rows)), best]
        return [Prediction(_plain(label), float(score)) for label, score in zip(labels, scores,
                                                                                 strict=True)]


def _plain(value: Any) -> Label:
    """numpy scalars -> the JSON-ready Python value (np.int64(3) -> 3, np.str_('a') -> 'a')."""
    plain = value.item() if hasattr(value, "item") else value
    if not isinstance(plain, int | float | str | bool):
        return str(plain)
    return plain


def load_model(path: Path) -> Model:
    """Load a joblib file holding a fitted estimator; a clear error for anything else."""
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist")
    try:
        estimator = joblib.load(path)
    except Exception as error:  # joblib/pickle raise many types for a corrupt file
        raise ModelLoadError(f"cannot load {path}: {type(error).__name__}: {error}") from error
    n_features = getattr(estimator, "n_features_in_", None)
    if not hasattr(estimator, "predict") or not isinstance(n_features, int):
        raise ModelLoadError(f"{path} does not hold a fitted scikit-learn estimator "
                             f"(got {type(estimator).__name__})")
    return Model(estimator=estimator, n_features=n_features, path=path)

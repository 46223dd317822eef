"""Train the demo's three models on scikit-learn's bundled digits data set (no download).

    python -m controller.modelserver.train --out DIR [--seed 7]

v1 is the baseline, v2 is deliberately worse (v1's recipe with noisy labels), v3 is better
(the whole training split). One recipe family, so the only story is the data. The same seed
gives the same models and the same holdout accuracies. DIR gets v1.joblib, v2.joblib,
v3.joblib, models.json (accuracies) and holdout.json (features and true labels, for a traffic
generator that posts delayed ground truth).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
from sklearn.datasets import load_digits  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline, make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

DEFAULT_SEED = 7
HOLDOUT_FRACTION = 0.3
SMALL_SAMPLE = 120  # v1/v2 see this many training rows: a plausible but beatable baseline


@dataclass(frozen=True)
class Recipe:
    version: str
    description: str
    train_rows: int | None  # None: the whole training split
    label_noise: float  # the share of training labels replaced by a random class


RECIPES = (
    Recipe("v1", f"baseline: logistic regression on {SMALL_SAMPLE} training rows",
           SMALL_SAMPLE, 0.0),
    Recipe("v2", "worse: the v1 recipe with 40% of its training labels randomised",
           SMALL_SAMPLE, 0.4),
    Recipe("v3", "better: logistic regression on the whole training split", None, 0.0),
)


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_holdout: np.ndarray
    y_holdout: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


@dataclass(frozen=True)
class Trained:
    recipe: Recipe
    estimator: Pipeline
    accuracy: float


def load_dataset(seed: int) -> Dataset:
    x, y = load_digits(return_X_y=True)
    x_train, x_holdout, y_train, y_holdout = train_test_split(
        x, y, test_size=HOLDOUT_FRACTION, random_state=seed, stratify=y)
    return Dataset(x_train, y_train, x_holdout, y_holdout)


def training_rows(data: Dataset, recipe: Recipe, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows and (possibly noisy) labels a recipe trains on. v1 and v2 share their rows,
    so v2 differs from v1 by its label noise alone."""
    order = np.random.default_rng(seed).permutation(len(data.y_train))
    chosen = order[: recipe.train_rows] if recipe.train_rows else order
    labels = data.y_train[chosen].copy()
    if recipe.label_noise > 0:
        noise = np.random.default_rng([seed, 1])
        flipped = noise.random(len(labels)) < recipe.label_noise
        labels[flipped] = noise.integers(0, 10, int(flipped.sum()))
    return data.x_train[chosen], labels


def train(data: Dataset, recipe: Recipe, seed: int) -> Trained:
    x, y = training_rows(data, recipe, seed)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    estimator.fit(x, y)
    accuracy = float(estimator.score(data.x_holdout, data.y_holdout))
    return Trained(recipe, estimator, accuracy)


def train_all(seed: int = DEFAULT_SEED) -> tuple[Dataset, list[Trained]]:
    data = load_dataset(seed)
    return data, [train(data, recipe, seed) for recipe in RECIPES]


def manifest(data: Dataset, models: Sequence[Trained], seed: int) -> dict[str, Any]:
    return {
        "dataset": "sklearn.datasets.load_digits", "seed": seed, "features": data.n_features,
        "holdoutRows": len(data.y_holdout),
        "models": {m.recipe.version: {"file": f"{m.recipe.version}.joblib",
                                      "description": m.recipe.description,
                                      "holdoutAccuracy": round(m.accuracy, 4)}
                   for m in models},
    }


def holdout(data: Dataset) -> dict[str, Any]:
    return {"instances": data.x_holdout.tolist(), "labels": data.y_holdout.tolist()}


def write(out: Path, data: Dataset, models: Sequence[Trained], seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for trained in models:
        joblib.dump(trained.estimator, out / f"{trained.recipe.version}.joblib")
    (out / "models.json").write_text(json.dumps(manifest(data, models, seed), indent=2) + "\n")
    (out / "holdout.json").write_text(json.dumps(holdout(data)) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.modelserver.train",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    data, models = train_all(args.seed)
    write(args.out, data, models, args.seed)
    for trained in models:
        print(f"{trained.recipe.version}  holdout accuracy {trained.accuracy:.4f}  "
              f"{trained.recipe.description}")
    print(f"wrote {', '.join(m.recipe.version + '.joblib' for m in models)}, models.json and "
          f"holdout.json ({len(data.y_holdout)} rows) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

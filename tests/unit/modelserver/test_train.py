"""Training: deterministic with a seed, and v2 < v1 < v3 on the holdout."""

from __future__ import annotations

import json
from pathlib import Path

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest

from controller.modelserver.model import ModelLoadError, load_model
from controller.modelserver.train import (
    DEFAULT_SEED,
    RECIPES,
    Dataset,
    Trained,
    main,
    train_all,
    training_rows,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def trained() -> tuple[Dataset, list[Trained]]:
    return train_all(DEFAULT_SEED)


def accuracies(models: list[Trained]) -> dict[str, float]:
    return {m.recipe.version: m.accuracy for m in models}


def test_same_seed_same_models(trained: tuple[Dataset, list[Trained]]) -> None:
    data, models = trained
    again_data, again = train_all(DEFAULT_SEED)
    assert accuracies(again) == accuracies(models)
    np.testing.assert_array_equal(again_data.y_holdout, data.y_holdout)
    for first, second in zip(models, again, strict=True):
        np.testing.assert_array_equal(first.estimator.predict_proba(data.x_holdout),
                                      second.estimator.predict_proba(data.x_holdout))


@pytest.mark.parametrize("seed", [DEFAULT_SEED, 0, 1, 42])
def test_v2_worse_than_v1_worse_than_v3(seed: int) -> None:
    score = accuracies(train_all(seed)[1])
    # margins wide enough for the demo's analysis to tell them apart quickly
    assert score["v2"] + 0.05 < score["v1"] < score["v3"] - 0.03, score
    assert score["v3"] > 0.94


def test_v1_and_v2_share_rows_and_differ_by_label_noise(
        trained: tuple[Dataset, list[Trained]]) -> None:
    data = trained[0]
    x1, y1 = training_rows(data, RECIPES[0], DEFAULT_SEED)
    x2, y2 = training_rows(data, RECIPES[1], DEFAULT_SEED)
    np.testing.assert_array_equal(x1, x2)
    changed = float(np.mean(y1 != y2))
    assert 0.2 < changed < 0.5  # 40% randomised, a tenth of which land on the true class


def test_cli_writes_models_manifest_and_holdout(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--seed", str(DEFAULT_SEED)]) == 0
    printed = capsys.readouterr().out
    assert "v2  holdout accuracy" in printed
    manifest = json.loads((tmp_path / "models.json").read_text())
    assert set(manifest["models"]) == {"v1", "v2", "v3"}
    assert manifest["features"] == 64
    holdout = json.loads((tmp_path / "holdout.json").read_text())
    assert len(holdout["instances"]) == len(holdout["labels"]) == manifest["holdoutRows"]
    model = load_model(tmp_path / "v3.joblib")
    predictions = model.predict(holdout["instances"][:50])
    correct = sum(p.label == y for p, y in zip(predictions, holdout["labels"], strict=False))
    assert correct >= 45
    assert all(type(p.label) is int and p.score is not None and 0 < p.score <= 1
               for p in predictions)


def test_load_model_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "missing.joblib")
    (tmp_path / "garbage.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(tmp_path / "garbage.joblib")
    joblib.dump({"weights": [1, 2]}, tmp_path / "dict.joblib")
    with pytest.raises(ModelLoadError, match="fitted scikit-learn estimator"):
        load_model(tmp_path / "dict.joblib")

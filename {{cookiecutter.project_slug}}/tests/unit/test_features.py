import json

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.features import FeatureTransform

TRAINING = pd.DataFrame(
    {
        "tenure_months": [1, 10, 20, 30],
        "monthly_charges": [20.0, np.nan, 60.0, 80.0],
        "contract_type": ["two-year", "month-to-month", "one-year", "month-to-month"],
        "gender": ["female", "male", "female", "male"],
        "churned": [0, 1, 0, 1],
    }
)


def fitted() -> FeatureTransform:
    return FeatureTransform.fit(TRAINING, exclude=["churned", "gender"])


def test_target_and_sensitive_columns_never_become_features():
    transform = fitted()

    assert transform.raw_columns == ["tenure_months", "monthly_charges", "contract_type"]
    assert transform.feature_names == [
        "tenure_months",
        "monthly_charges",
        "contract_type=month-to-month",
        "contract_type=one-year",
        "contract_type=two-year",
    ]


def test_missing_numbers_take_the_training_median():
    features = fitted().transform(TRAINING.iloc[:1].assign(monthly_charges=[None]))

    assert features["monthly_charges"].tolist() == [60.0]


def test_unknown_or_missing_category_sets_every_indicator_to_zero():
    rows = TRAINING.iloc[:2].assign(contract_type=["three-year", None])

    features = fitted().transform(rows)

    assert features.filter(like="contract_type=").to_numpy().sum() == 0


def test_transform_survives_its_json_file_unchanged(tmp_path):
    transform = fitted()
    transform.save(tmp_path / "feature_transform.json")

    loaded = FeatureTransform.load(tmp_path / "feature_transform.json")

    assert loaded == transform
    saved = json.loads((tmp_path / "feature_transform.json").read_text())
    assert saved["features"][1] == {
        "name": "monthly_charges",
        "type": "numeric",
        "fill_value": 60.0,
    }
    pd.testing.assert_frame_equal(loaded.transform(TRAINING), transform.transform(TRAINING))


def test_columns_come_out_in_training_order_whatever_the_input_order():
    shuffled = TRAINING[["churned", "contract_type", "monthly_charges", "gender", "tenure_months"]]

    assert list(fitted().transform(shuffled).columns) == fitted().feature_names


def test_text_in_a_numeric_column_is_refused_with_the_column_named():
    rows = TRAINING.astype({"tenure_months": object})
    rows.loc[0, "tenure_months"] = "ten"

    with pytest.raises(ValueError, match="tenure_months.*'ten'"):
        fitted().transform(rows)


def test_missing_feature_column_is_refused_with_its_name():
    with pytest.raises(ValueError, match="missing feature columns: monthly_charges"):
        fitted().transform(TRAINING.drop(columns="monthly_charges"))

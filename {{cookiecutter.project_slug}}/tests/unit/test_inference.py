import json
import shutil

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import inference
from {{ cookiecutter.package_name }}.inference import CSV, JSON


@pytest.fixture
def model(pipeline_run):
    return inference.model_fn(str(pipeline_run.model_dir))


def invoke(model, body, content_type, accept):
    """The handlers in the order the inference toolkit calls them for one request."""
    data = inference.input_fn(body, content_type)
    return inference.output_fn(inference.predict_fn(data, model), accept)


@pytest.fixture
def customers(pipeline_run):
    return pd.read_csv(pipeline_run.prepared / "test" / "test.csv").head(5)


def test_csv_rows_in_raw_feature_order_get_one_prediction_per_line(model, customers):
    body = customers[model.transform.raw_columns].to_csv(header=False, index=False)

    answer = invoke(model, body.encode(), CSV, CSV)

    assert len(answer.splitlines()) == 5
    predictions = [float(line) for line in answer.splitlines()]
    if model.info["problem_type"] == "binary_classification":
        assert all(0 <= p <= 1 for p in predictions)


def test_json_instances_and_csv_rows_get_the_same_predictions(model, customers):
    features = customers[model.transform.raw_columns]
    instances = json.loads(features.to_json(orient="records"))

    from_csv = invoke(model, features.to_csv(header=False, index=False), CSV, CSV)
    from_json = invoke(model, json.dumps({"instances": instances}), JSON, JSON)
    from_list = invoke(model, json.dumps(instances), f"{JSON}; charset=utf-8", "*/*")

    expected = [float(line) for line in from_csv.splitlines()]
    assert json.loads(from_json) == {"predictions": expected}
    assert json.loads(from_list) == {"predictions": expected}


def test_extra_fields_unknown_categories_and_gaps_still_get_a_prediction(model, customers):
    instance = json.loads(customers.iloc[[0]].to_json(orient="records"))[0]
    instance |= {"contract_type": "ten-year", "monthly_charges": None, "customer_note": "vip"}

    answer = json.loads(invoke(model, json.dumps([instance]), JSON, JSON))

    assert np.isfinite(answer["predictions"][0])


def test_a_json_row_without_a_feature_has_it_imputed_and_logged(model, customers, caplog):
    instance = json.loads(
        customers[model.transform.raw_columns].iloc[[0]].to_json(orient="records")
    )[0]
    dropped = next(iter(model.transform.numeric))
    gap = {**instance, dropped: None}
    without = {key: value for key, value in instance.items() if key != dropped}

    with caplog.at_level("WARNING"):
        answer = invoke(model, json.dumps([without]), JSON, JSON)

    assert json.loads(answer) == json.loads(invoke(model, json.dumps([gap]), JSON, JSON))
    assert f"request without {dropped}" in caplog.text
    with pytest.raises(inference.RequestError, match="none of the feature columns"):
        invoke(model, json.dumps([{"unrelated": 1}]), JSON, JSON)


def test_csv_row_with_the_wrong_number_of_values_is_refused(model):
    with pytest.raises(ValueError, match="needs 6 values"):
        invoke(model, "12,70.5\n", CSV, CSV)


@pytest.mark.parametrize("body", ['{"rows": []}', '{"instances": []}', "[1, 2]"])
def test_json_request_not_shaped_as_instances_is_refused(model, body):
    with pytest.raises(ValueError, match="instances|no rows"):
        invoke(model, body, JSON, JSON)


def test_unsupported_content_type_is_refused_by_name():
    with pytest.raises(inference.UnsupportedContentTypeError, match="application/x-parquet"):
        inference.input_fn(b"...", "application/x-parquet")


def test_unsupported_accept_type_is_refused_by_name():
    with pytest.raises(inference.UnsupportedContentTypeError, match="application/xml"):
        inference.output_fn(np.array([0.5]), "application/xml")


@pytest.mark.parametrize("value", ["inf", "-inf", "1e40", "lots"])
def test_a_value_that_is_not_a_finite_number_is_the_callers_error(model, customers, value):
    column = next(iter(model.transform.numeric))
    rows = customers[model.transform.raw_columns].astype(object)
    rows.loc[rows.index[0], column] = value

    with pytest.raises(inference.RequestError, match=column) as refused:
        invoke(model, rows.to_csv(header=False, index=False), CSV, CSV)
    assert refused.value.status_code == 400


def test_a_feature_transform_that_does_not_match_the_model_is_refused(pipeline_run, tmp_path):
    folder = shutil.copytree(pipeline_run.model_dir, tmp_path / "model")
    path = folder / "feature_transform.json"
    document = json.loads(path.read_text())
    categorical = next(f for f in document["features"] if f["type"] == "categorical")
    categorical["categories"] = list(reversed(categorical["categories"]))
    path.write_text(json.dumps(document))

    with pytest.raises(ValueError, match="does not match the model"):
        inference.model_fn(str(folder))

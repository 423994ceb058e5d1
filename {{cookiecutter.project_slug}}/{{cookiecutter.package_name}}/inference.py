"""Endpoint handlers for the SageMaker inference toolkit; the evaluation job predicts with them too.

Requests carry raw customer rows, and the feature transform saved with the model turns them into
model inputs exactly as in training:

    text/csv           one row per line, no header, raw feature values in the order of
                       feature_transform.json (sensitive columns and the target left out)
    application/json   {"instances": [{"tenure_months": 12, ...}, ...]} or a list of such objects

Responses are text/csv (one prediction per line) or application/json ``{"predictions": [...]}``.
A prediction is the probability of the positive class, or the predicted value for regression.
A JSON row without some of the features gets them imputed as gaps are (the training median, or
no known category), and the log says which were missing; one with none of them is refused.
"""

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

if __package__:
    from .features import FILE_NAME, FeatureTransform
else:  # imported by the inference toolkit as a top-level module from the model's code directory
    from features import FILE_NAME, FeatureTransform

log = logging.getLogger(__name__)
CSV = "text/csv"
JSON = "application/json"


class RequestError(ValueError):
    """The request is the caller's mistake: the model server answers with ``status_code``."""

    status_code = 400


class UnsupportedContentTypeError(RequestError):
    """A request or an accept header names a format the endpoint does not speak."""

    def __init__(self, message: str, status_code: int = 415):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Model:
    """What ``model_fn`` loads: the booster, its feature transform and ``model_info.json``."""

    booster: xgb.Booster
    transform: FeatureTransform
    info: dict


def model_fn(model_dir: str) -> Model:
    """Load what the training job saved in its model directory."""
    directory = Path(model_dir)
    booster = xgb.Booster()
    booster.load_model(directory / "xgboost-model.json")
    transform = FeatureTransform.load(directory / FILE_NAME)
    if booster.feature_names and booster.feature_names != transform.feature_names:
        # Predictions go in as an array: only the names catch a transform of the same width
        # whose columns mean something else.
        raise ValueError(
            f"{FILE_NAME} does not match the model: its columns "
            f"{transform.feature_names} are not the model's {booster.feature_names}"
        )
    info = json.loads((directory / "model_info.json").read_text())
    return Model(booster, transform, info)


def input_fn(request_body: str | bytes, content_type: str) -> pd.DataFrame | np.ndarray:
    """Parse a request: CSV gives unnamed rows (an array), JSON named rows (a table)."""
    try:
        if isinstance(request_body, bytes):
            request_body = request_body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(f"the request is not UTF-8 text: {error}") from error
    media_type = _media_type(content_type)
    if media_type == CSV:
        if not request_body.strip():
            raise RequestError("the request holds no rows")
        try:
            table = pd.read_csv(io.StringIO(request_body), header=None, dtype=str)
        except (ValueError, pd.errors.ParserError) as error:
            raise RequestError(f"the request is not CSV rows: {error}") from error
        return table.to_numpy(dtype=object)
    if media_type == JSON:
        try:
            payload = json.loads(request_body)
        except ValueError as error:
            raise RequestError(f"the request is not JSON: {error}") from error
        instances = payload.get("instances") if isinstance(payload, dict) else payload
        if not isinstance(instances, list) or not all(isinstance(row, dict) for row in instances):
            raise RequestError('a JSON request must be {"instances": [{...}, ...]} or [{...}, ...]')
        if not instances:
            raise RequestError("the request holds no rows")
        return pd.DataFrame(instances)
    raise UnsupportedContentTypeError(
        f"unsupported content type {content_type!r}: send {CSV} or {JSON}"
    )


def predict_fn(data: pd.DataFrame | np.ndarray, model: Model) -> np.ndarray:
    """Probability of the positive class, or the predicted value, for each row."""
    if isinstance(data, np.ndarray):
        expected = model.transform.raw_columns
        if data.shape[1] != len(expected):
            raise RequestError(
                f"each CSV row needs {len(expected)} values ({', '.join(expected)}),"
                f" got {data.shape[1]}"
            )
        data = pd.DataFrame(data, columns=expected)
    missing = [column for column in model.transform.raw_columns if column not in data.columns]
    if len(missing) == len(model.transform.raw_columns):
        raise RequestError(f"the rows hold none of the feature columns ({', '.join(missing)})")
    if missing:  # imputed as a gap would be: the training median, or no known category
        log.warning("request without %s: imputed as missing values", ", ".join(missing))
        data = data.assign(**{column: np.nan for column in missing})
    try:
        features = model.transform.matrix(data)
    except ValueError as error:  # a value that is not a number, or not a finite one
        raise RequestError(str(error)) from error
    # inplace_predict skips building a DMatrix: a fraction of the time for the one-row requests
    # endpoints mostly answer, the same predictions.
    return model.booster.inplace_predict(features)


def output_fn(prediction: np.ndarray, accept: str) -> str:
    """Serialise predictions in the accepted format (JSON when the caller takes anything)."""
    values = [str(value) for value in np.asarray(prediction, dtype=np.float32)]
    media_type = _media_type(accept) if accept not in (None, "", "*/*") else JSON
    if media_type == CSV:
        return "\n".join(values) + "\n"
    if media_type == JSON:
        return json.dumps({"predictions": [float(value) for value in values]})
    raise UnsupportedContentTypeError(
        f"unsupported accept type {accept!r}: use {CSV} or {JSON}", status_code=406
    )


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()

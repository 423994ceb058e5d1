"""Training job: XGBoost on the train split, stopped early on the validation split.

SageMaker's training toolkit runs this file in script mode: hyperparameters arrive as
``--name value`` arguments, paths as ``SM_*`` environment variables (the defaults below).

    SM_CHANNEL_TRAIN       train.csv written by the preprocess job
    SM_CHANNEL_VALIDATION  validation.csv
    SM_CHANNEL_TRANSFORM   feature_transform.json
    SM_MODEL_DIR           receives xgboost-model.json, feature_transform.json, model_info.json
    SM_OUTPUT_DATA_DIR     receives training_history.json (every metric at every round)

Every round prints XGBoost's evaluation line (``[12]\ttrain-auc:0.91\tvalidation-auc:0.88``).
Early stopping watches the validation split's ``early_stopping_metric`` (by default the problem
type's in ``metrics.csv``: logloss or rmse, which keep improving where AUC saturates on a small
split), and the model keeps its best round. The run ends by printing that round's evaluation line
again, so the last value the job's ``MetricDefinitions`` read from the log (SageMaker's final
metrics) is the kept model's.
"""

import argparse
import json
import os
from pathlib import Path

import xgboost as xgb

if __package__:
    from .features import FILE_NAME, FeatureTransform, read_csv_dir
    from .metrics import PROBLEM_TYPES, eval_metrics
else:  # run as a file by the training toolkit: the package's modules are top-level modules
    from features import FILE_NAME, FeatureTransform, read_csv_dir
    from metrics import PROBLEM_TYPES, eval_metrics

OBJECTIVES = {"binary_classification": "binary:logistic", "regression": "reg:squarederror"}
HYPERPARAMETERS = {  # name: default, whose type also parses the argument
    "num_round": 500,
    "max_depth": 5,
    "eta": 0.1,
    "subsample": 0.8,
    "min_child_weight": 1.0,
    "early_stopping_rounds": 20,
    # "" for the problem type's default in metrics.csv
    "early_stopping_metric": "",
    "seed": 42,
}


def train(
    train_dir: Path,
    validation_dir: Path,
    transform: FeatureTransform,
    target_column: str,
    problem_type: str,
    hyperparameters: dict,
) -> tuple[xgb.Booster, dict]:
    """Fit the model; return it cut at its best round, and the metrics of every round."""
    datasets = []
    for name, directory in (("train", train_dir), ("validation", validation_dir)):
        table = read_csv_dir(directory)
        if target_column not in table.columns:
            raise ValueError(f"the {name} split has no target column {target_column!r}")
        datasets.append((xgb.DMatrix(transform.transform(table), label=table[target_column]), name))
    booster_params = ("max_depth", "eta", "subsample", "min_child_weight", "seed")
    params = {name: hyperparameters[name] for name in booster_params}
    params |= {
        "objective": OBJECTIVES[problem_type],
        # XGBoost stops early on the last of these
        "eval_metric": eval_metrics(problem_type, hyperparameters["early_stopping_metric"]),
    }
    history: dict = {}
    booster = xgb.train(
        params,
        datasets[0][0],
        num_boost_round=hyperparameters["num_round"],
        evals=datasets,
        evals_result=history,
        early_stopping_rounds=hyperparameters["early_stopping_rounds"],
        verbose_eval=True,
    )
    return booster[: booster.best_iteration + 1], history


def main(argv: list[str] | None = None) -> None:
    # No abbreviations: a misspelt hyperparameter ("et") must fail, not pass as another ("eta").
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--problem_type", choices=PROBLEM_TYPES, required=True)
    parser.add_argument("--target_column", required=True)
    for name, default in HYPERPARAMETERS.items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    for option, variable in (
        ("--model_dir", "SM_MODEL_DIR"),
        ("--train", "SM_CHANNEL_TRAIN"),
        ("--validation", "SM_CHANNEL_VALIDATION"),
        ("--transform", "SM_CHANNEL_TRANSFORM"),
        ("--output_data_dir", "SM_OUTPUT_DATA_DIR"),
    ):
        parser.add_argument(
            option,
            type=Path,
            default=os.environ.get(variable),
            required=variable not in os.environ,
            help=f"default: ${variable}",
        )
    args = parser.parse_args(argv)
    if args.early_stopping_rounds < 1:
        parser.error("--early_stopping_rounds must be at least 1: the model keeps its best round")
    hyperparameters = {name: getattr(args, name) for name in HYPERPARAMETERS}
    try:
        watched = eval_metrics(args.problem_type, args.early_stopping_metric)[-1]
    except ValueError as error:
        parser.error(f"--early_stopping_metric: {error}")

    transform = FeatureTransform.load(args.transform / FILE_NAME)
    booster, history = train(
        args.train,
        args.validation,
        transform,
        args.target_column,
        args.problem_type,
        hyperparameters,
    )
    best_round = booster.num_boosted_rounds() - 1
    best = {
        f"{split}-{metric}": values[best_round]
        for split, metrics in history.items()
        for metric, values in metrics.items()
    }
    print(f"Keeping the model of round {best_round}, the best by validation-{watched}:")
    print(f"[{best_round}]\t" + "\t".join(f"{name}:{value:.6f}" for name, value in best.items()))

    args.model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(args.model_dir / "xgboost-model.json")
    transform.save(args.model_dir / FILE_NAME)
    model_info = {
        "problem_type": args.problem_type,
        "target_column": args.target_column,
        "feature_names": transform.feature_names,
        "best_iteration": best_round,
        "early_stopping_metric": f"validation-{watched}",
        "best_scores": best,
        "hyperparameters": hyperparameters,
    }
    (args.model_dir / "model_info.json").write_text(json.dumps(model_info, indent=2) + "\n")
    args.output_data_dir.mkdir(parents=True, exist_ok=True)
    (args.output_data_dir / "training_history.json").write_text(json.dumps(history) + "\n")


if __name__ == "__main__":
    main()

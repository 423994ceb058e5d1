"""Benchmarks: the local AWS's startup, job dispatch, the training DAG, DAG parsing, serving.

Run them from the project root with ``make bench`` (results in ``build/benchmarks/``) or one at a
time with ``python -m benchmarks.<name> --repeat N``. Each compares its measurement with a
baseline taken in the same command, so the ratio holds on a busy or slow machine too.
"""

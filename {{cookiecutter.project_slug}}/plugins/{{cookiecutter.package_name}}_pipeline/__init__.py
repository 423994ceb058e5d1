"""The Airflow side of the pipeline: configuration, SageMaker job requests and the steps' logic.

DAG files stay thin and read top to bottom as the lifecycle they run; the logic lives here.
Nothing here imports the ML package or heavy libraries at import time.
"""

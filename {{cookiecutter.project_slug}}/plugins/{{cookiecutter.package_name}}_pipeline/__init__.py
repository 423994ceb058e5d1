"""The Airflow side of the pipeline, a module per role (see the README's table).

DAG files stay thin and read top to bottom as the lifecycle they run; the logic lives here.
Nothing here imports the ML package or heavy libraries at import time, and the modules the
developer tools use too (``config``, ``metrics``, ``runs``, ``job_requests``, ``packaging``,
``registry``, ``gate``, ``images``, ``hooks``) import Airflow only when a task calls them: Airflow
reads its settings once, on first import, and the tools set them up first.
"""

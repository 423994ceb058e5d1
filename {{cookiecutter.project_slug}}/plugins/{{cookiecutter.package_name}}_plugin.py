"""The pipeline's Airflow plugin: its runs' reports, served inside the Airflow UI.

Mounts the pipeline package's reports app in Airflow's API server at ``/reports``; the tasks'
report buttons open it. The same file works locally and on MWAA, at the root of ``plugins.zip``
beside the pipeline package.
"""

from airflow.plugins_manager import AirflowPlugin

from {{ cookiecutter.package_name }}_pipeline import reports


class PipelineReportsPlugin(AirflowPlugin):
    name = __name__
    fastapi_apps = [
        {"app": reports.create_app(), "url_prefix": reports.URL_PREFIX, "name": "Pipeline reports"}
    ]

"""The pipeline's Airflow plugin: its runs' reports, served inside the Airflow UI.

Mounts the pipeline package's reports app in Airflow's API server at ``/reports``; the tasks'
report buttons open it. The same file works locally and on MWAA, at the root of ``plugins.zip``
beside the pipeline package.
"""

from functools import cache

from airflow.plugins_manager import AirflowPlugin

from {{ cookiecutter.package_name }}_pipeline import reports


@cache
def _reports_app():
    return reports.create_app()


class _ReportsApps:
    """``fastapi_apps``, built when read: only the API server reads it, while every task
    process loads the plugins and need not pay for importing the API server's security code.
    """

    def __get__(self, instance, owner) -> list[dict]:
        return [
            {"app": _reports_app(), "url_prefix": reports.URL_PREFIX, "name": "Pipeline reports"}
        ]


class PipelineReportsPlugin(AirflowPlugin):
    name = __name__
    fastapi_apps = _ReportsApps()

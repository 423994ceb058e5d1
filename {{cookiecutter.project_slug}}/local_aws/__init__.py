"""The local AWS: one process serving the AWS APIs on this machine that really runs SageMaker jobs.

Built on moto's server mode. On top of moto it adds what a pipeline needs to behave locally as it
does on AWS: requests checked against the AWS service model, S3 data and all state kept on disk
across restarts, and processing and training jobs executed by SageMaker's container contracts.
Nothing outside this folder knows it is talking to it: clients reach it through the standard
``AWS_ENDPOINT_URL`` variable or an Airflow connection's ``endpoint_url``.
"""

#: The template release this local AWS came with (the template's own version).
__version__ = "0.3.0"

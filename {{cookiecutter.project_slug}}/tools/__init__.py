"""Developer tools: the demo, the local Airflow stack and what they share."""

"""The job runner: jobs in sandboxes of their own, run in the background (the kinds of job
are capabilities)."""

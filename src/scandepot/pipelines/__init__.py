"""Pipelines: job records, executors (local process pool, Celery), dcm2niix, QA metrics."""

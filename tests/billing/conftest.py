import pytest


@pytest.fixture(autouse=True)
def payment_jobs_run_here(settings):
    """The test process plays the worker: the jobs a payment queues (start, stop, collect, give back)
    run right here, as on the embedded default. With REDIS_URL set they would otherwise wait for a
    Celery worker that no test starts, and a payment would stay held."""
    settings.CELERY_TASK_ALWAYS_EAGER = True

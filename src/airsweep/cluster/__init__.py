"""The native cluster: embedded Postgres and Redis plus Airflow and Celery under supervisord."""

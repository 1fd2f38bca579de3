"""Parse DAG files the way the dag-processor does, with no database and no network.

Airflow reads its configuration when first imported, so the environment is set
here, before any test module imports it: a throwaway AIRFLOW_HOME and a
metadata database URL that cannot be reached, so any DB access at parse time
fails the test.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airsweep-dagtest-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
    "postgresql+psycopg2://nobody:x@127.0.0.1:1/none"
)

"""A small authenticated client of the Airflow 3 REST API (``/api/v2``)."""

from __future__ import annotations

import time
from typing import Any

import httpx


class AirflowAPIError(RuntimeError):
    """The API answered with an error; ``status`` is the HTTP status code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class AirflowClient:
    """Talk to an Airflow api-server as a user does: token from ``/auth/token``, then REST.

    Args:
        base_url: The api-server URL, e.g. ``http://127.0.0.1:28080``.
        username: User of the simple auth manager.
        password: That user's password.
        timeout_s: Timeout of each HTTP request.
    """

    def __init__(self, base_url: str, username: str, password: str, timeout_s: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self._token: str | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def token(self) -> str:
        """Return a JWT for the user, fetching it on first use."""
        if self._token is None:
            response = self._http.post("/auth/token", json=self._credentials)
            if response.status_code not in (200, 201):
                raise AirflowAPIError(response.status_code, response.text)
            self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send an authenticated request to ``/api/v2{path}`` and return the JSON body.

        Raises:
            AirflowAPIError: The response status is 400 or above.
        """
        headers = {"Authorization": f"Bearer {self.token()}"}
        response = self._http.request(method, f"/api/v2{path}", headers=headers, **kwargs)
        if response.status_code == 401 and self._token is not None:
            self._token = None
            headers = {"Authorization": f"Bearer {self.token()}"}
            response = self._http.request(method, f"/api/v2{path}", headers=headers, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise AirflowAPIError(response.status_code, str(detail))
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout_s: float = 120) -> dict[str, Any]:
        """Wait until ``dag_id`` is parsed into the database and return it."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.request("GET", f"/dags/{dag_id}")
            except AirflowAPIError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(1)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """Trigger a run of ``dag_id`` now with ``conf``; return the DAG run."""
        body = {"logical_date": None, "conf": conf or {}}
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """Return one DAG run."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout_s: float = 600, poll_s: float = 2
    ) -> dict[str, Any]:
        """Poll a DAG run until it finishes (success or failed) and return it.

        Connection errors and 5xx answers (an api-server restarting, or without
        its database for a moment) are asked again until the deadline.

        Raises:
            TimeoutError: The run is still going after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                run = self.dag_run(dag_id, run_id)
            except httpx.TransportError:  # a busy or restarting api-server: ask again
                run = {"state": "unknown"}
            except AirflowAPIError as exc:  # its database briefly away: ask again
                if exc.status < 500:
                    raise
                run = {"state": "unknown"}
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id}/{run_id} still {run['state']} after {timeout_s}s")
            time.sleep(poll_s)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones included."""
        body = self.request(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
        )
        return body["task_instances"]

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value"
    ) -> Any:
        """One XCom of one task instance (its ``return_value`` unless ``key`` says otherwise)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.request("GET", path, params={"map_index": map_index, "deserialize": True})[
            "value"
        ]

"""A savepoint around one job's handler that costs nothing when the handler never queries.

A savepoint is two round trips (SAVEPOINT, RELEASE), which for small jobs is most of their
cost. This one is created just before the handler's first query, through an execute wrapper.
"""

from __future__ import annotations

from django.db import connection


class LazySavepoint:
    def __init__(self):
        self.sid: str | None = None
        self._creating = False
        # Callbacks added before the first query are not tagged with the savepoint, so a
        # failed job's callbacks are dropped by position instead.
        self._callbacks_before = len(connection.run_on_commit)

    def __call__(self, execute, sql, params, many, context):
        if self.sid is None and not self._creating:
            self._creating = True  # the SAVEPOINT statement passes through this wrapper too
            try:
                self.sid = connection.savepoint()
            finally:
                self._creating = False
        return execute(sql, params, many, context)

    def release(self) -> None:
        if self.sid is not None:
            connection.savepoint_commit(self.sid)

    def roll_back(self) -> None:
        """Undo the handler's queries and forget its on-commit callbacks."""
        # Rolling back to the savepoint repairs a transaction that Django marked as broken;
        # the mark must go first or Django refuses to send the rollback.
        connection.needs_rollback = False
        if self.sid is not None:
            connection.savepoint_rollback(self.sid)
            # Released too, so that failed jobs do not nest their successors' savepoints.
            connection.savepoint_commit(self.sid)
        del connection.run_on_commit[self._callbacks_before :]

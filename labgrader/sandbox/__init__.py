"""Run a student's code in a separate, limited process and talk to it with plain data only.

``session`` is the grader's side; ``worker.py`` and ``wire.py`` are what the worker process gets
(copied into its private directory, imported there as top-level modules).
"""

from .session import CallResult, Limits, LoadReport, StudentSession, SubmissionTimeUp, WorkerLost

__all__ = ["CallResult", "Limits", "LoadReport", "StudentSession", "SubmissionTimeUp", "WorkerLost"]

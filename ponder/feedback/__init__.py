"""Feedback: the router's record of each routed request, and that record read back as an
outcome table for ``ponder train``."""

from ponder.feedback._events import AttemptRecord, Feedback, FeedbackEvent, MemoryFeedback
from ponder.feedback._table import feedback_table

__all__ = ["AttemptRecord", "Feedback", "FeedbackEvent", "MemoryFeedback", "feedback_table"]

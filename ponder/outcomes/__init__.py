"""Outcome tables: per query, how well each arm answered and what it cost."""

from ponder.outcomes._load import LoadReport, LoadResult, load_many, load_outcomes, rows_to_table
from ponder.outcomes._schema import ArmOutcome, Message, OutcomeRow, Sample, prompt_text
from ponder.outcomes._table import OutcomeTable
from ponder.outcomes._write import write_jsonl

__all__ = [
    "ArmOutcome",
    "LoadReport",
    "LoadResult",
    "Message",
    "OutcomeRow",
    "OutcomeTable",
    "Sample",
    "load_many",
    "load_outcomes",
    "prompt_text",
    "rows_to_table",
    "write_jsonl",
]

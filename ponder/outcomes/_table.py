"""The dense, column-oriented outcome table every computation in ponder runs on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ponder.outcomes._schema import Sample

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class OutcomeTable:
    """``n`` queries by ``k`` arms. ``NaN`` in ``scores`` means "not measured", never 0.

    ``costs`` holds US dollars for one call; ``NaN`` where unknown (price it with a menu).
    ``samples[arm][i]`` are the recorded independent samples of arm ``arm`` on query ``i``
    (``None`` where there are none).
    """

    ids: tuple[str, ...]
    prompts: tuple[str, ...]
    tasks: tuple[str, ...]
    arms: tuple[str, ...]
    scores: FloatArray
    costs: FloatArray
    input_tokens: FloatArray
    output_tokens: FloatArray
    samples: dict[str, tuple[tuple[Sample, ...] | None, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, k = len(self.ids), len(self.arms)
        for name in ("scores", "costs", "input_tokens", "output_tokens"):
            arr = getattr(self, name)
            if arr.shape != (n, k):
                raise ValueError(f"{name} has shape {arr.shape}, expected {(n, k)}")
        if not (len(self.prompts) == len(self.tasks) == n):
            raise ValueError("ids, prompts and tasks must have the same length")

    @property
    def n_queries(self) -> int:
        return len(self.ids)

    @property
    def n_arms(self) -> int:
        return len(self.arms)

    @property
    def measured(self) -> npt.NDArray[np.bool_]:
        return ~np.isnan(self.scores)

    def arm_index(self, name: str) -> int:
        try:
            return self.arms.index(name)
        except ValueError:
            raise KeyError(f"arm '{name}' is not in this table; it has {list(self.arms)}") from None

    def take(self, idx: Sequence[int] | npt.NDArray[np.integer]) -> OutcomeTable:
        """The queries at ``idx`` (rows), all arms."""
        ix = np.asarray(idx, dtype=np.int64)
        return OutcomeTable(
            ids=tuple(self.ids[i] for i in ix),
            prompts=tuple(self.prompts[i] for i in ix),
            tasks=tuple(self.tasks[i] for i in ix),
            arms=self.arms,
            scores=self.scores[ix],
            costs=self.costs[ix],
            input_tokens=self.input_tokens[ix],
            output_tokens=self.output_tokens[ix],
            samples={a: tuple(s[i] for i in ix) for a, s in self.samples.items()},
        )

    def select_arms(self, names: Sequence[str]) -> OutcomeTable:
        cols = [self.arm_index(a) for a in names]
        return OutcomeTable(
            ids=self.ids,
            prompts=self.prompts,
            tasks=self.tasks,
            arms=tuple(names),
            scores=self.scores[:, cols],
            costs=self.costs[:, cols],
            input_tokens=self.input_tokens[:, cols],
            output_tokens=self.output_tokens[:, cols],
            samples={a: s for a, s in self.samples.items() if a in names},
        )

    @staticmethod
    def concat(tables: Sequence[OutcomeTable]) -> OutcomeTable:
        """Stack tables with possibly different arms; arms missing from a table are NaN."""
        if not tables:
            raise ValueError("concat needs at least one table")
        arms: list[str] = []
        for t in tables:
            arms.extend(a for a in t.arms if a not in arms)
        n = sum(t.n_queries for t in tables)

        def stack(attr: str) -> FloatArray:
            out = np.full((n, len(arms)), np.nan)
            row = 0
            for t in tables:
                cols = [arms.index(a) for a in t.arms]
                out[row : row + t.n_queries, cols] = getattr(t, attr)
                row += t.n_queries
            return out

        samples: dict[str, tuple[tuple[Sample, ...] | None, ...]] = {}
        for a in arms:
            if any(a in t.samples for t in tables):
                samples[a] = tuple(
                    s for t in tables for s in (t.samples.get(a) or (None,) * t.n_queries)
                )
        return OutcomeTable(
            ids=tuple(i for t in tables for i in t.ids),
            prompts=tuple(p for t in tables for p in t.prompts),
            tasks=tuple(x for t in tables for x in t.tasks),
            arms=tuple(arms),
            scores=stack("scores"),
            costs=stack("costs"),
            input_tokens=stack("input_tokens"),
            output_tokens=stack("output_tokens"),
            samples=samples,
        )

    def fingerprint(self) -> str:
        """A stable hash of the table's content, recorded in model manifests."""
        import hashlib

        h = hashlib.sha256()
        for part in (self.ids, self.prompts, self.tasks, self.arms):
            h.update("\x1f".join(part).encode())
        for arr in (self.scores, self.costs):
            h.update(np.ascontiguousarray(np.nan_to_num(arr, nan=-1.0)).tobytes())
        return h.hexdigest()[:16]

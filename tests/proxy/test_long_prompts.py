"""Long prompts through the proxy, with the official openai client: the decision reads the
head and tail of the text and, for a long text, runs on a worker thread, so the event loop
keeps serving others meanwhile. (``bench/bench_long_prompt.py`` measures the cost.)"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from openai import OpenAI

from ponder.classifiers import DifficultyClassifier, Featurizer
from ponder.proxy import create_app
from ponder.router import Router
from tests.fakes.proxy_server import ProxyServer
from tests.fakes.upstream import FakeUpstream
from tests.proxy.conftest import KEY_A, settings


class ThreadRecorder:
    """The classifier's own featurizer, noting which thread featurized each text's length."""

    def __init__(self, inner: Featurizer) -> None:
        self.inner = inner
        self.threads: dict[int, str] = {}

    def transform(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        for t in texts:
            self.threads[len(t)] = threading.current_thread().name
        return self.inner.transform(texts)


def _prompt(middle: str) -> str:
    filler = "Minutes of the committee meeting, item by item, as recorded. " * 100
    return f"Read this.\n{filler}{middle * 5_000}{filler}\nWhat is 6 times 7?"


def test_a_long_prompt_is_routed_off_the_event_loop_on_its_head_and_tail(
    up: FakeUpstream, clf: DifficultyClassifier
) -> None:
    up.script("small", ["It is 42"])
    up.script("big", ["It is 42"])
    recorder = ThreadRecorder(clf.featurizer_)
    spied = copy.copy(clf)  # the session's classifier stays as it was
    spied.featurizer_ = recorder
    router = Router(settings(up), classifier=spied)
    with ProxyServer(create_app(router=router)) as p:
        c = OpenAI(base_url=p.base_url, api_key=KEY_A, max_retries=0, timeout=30)

        def difficulty(text: str) -> float:
            r = c.chat.completions.create(
                model="ponder/auto", messages=[{"role": "user", "content": text}]
            )
            return float((r.model_extra or {})["ponder"]["difficulty"])

        short = "What is 6 times 7?"
        difficulty(short)
        a, b = _prompt("Sales were flat. "), _prompt("$x^2=9$; def f():")
        assert len(a) == len(b) > 80_000
        # What lies between the head and the tail does not change the decision.
        assert difficulty(a) == difficulty(b)
    loop = recorder.threads[len(short)]  # the proxy's event loop thread
    assert recorder.threads[len(a)] != loop

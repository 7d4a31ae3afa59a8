from __future__ import annotations

from collections.abc import Iterator

import pytest

from ponder.classifiers import DifficultyClassifier, load_default_classifier
from tests.fakes.upstream import FakeUpstream


@pytest.fixture(scope="module")
def clf() -> DifficultyClassifier:
    return load_default_classifier()


@pytest.fixture(autouse=True)
def provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PONDER_TEST_KEY", "sk-test-key")


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server

"""BERT WordPiece tokenization in Python, exact and about three times faster than
``tokenizers`` for one short text.

The static embedding's cost per query is its tokenizer's: the Rust pipeline spends most of
its ~1 us per token tracking offsets and alignments that ponder never reads. For ASCII text a
BERT tokenizer is simple (drop control characters, lowercase, split on whitespace and
punctuation, greedy longest-match WordPiece), so that is done here with a translate table, a
regex and dict lookups. Anything else is left to the real tokenizer:

- a word (a run between spaces, tabs, newlines or returns) with a non-ASCII character goes
  through ``tokenizers``, in one batch call per text. Every step of a BERT tokenizer works
  within such runs (its normalizer maps characters one by one, its accent stripping cannot
  reorder across a space, its pre-tokenizer splits on whitespace), so the pieces join up to
  the whole text's tokens;
- a text that holds an added token's text (``[CLS]``, ``[MASK]``..., matched on the raw
  text as the tokenizer does) goes through it whole;
- a tokenizer that is not exactly BERT-shaped is never replaced (:meth:`WordPiece.of`
  returns None).

``tests/classifiers/test_wordpiece.py`` checks the ids against ``tokenizers`` on real prompts
and fuzzed text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

_FIRST_PART = 2048
_NEXT_PART = 256
"""Characters of a long ASCII text tokenized first, then at a time, until the limit."""
_MEMO_WORDS = 20_000
"""Out-of-vocabulary words whose pieces are remembered; the memo starts over past this."""
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_PRE_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")  # on cleaned, lowercased ASCII


def _next_space(text: str, at: int) -> int:
    """The first space, tab, newline or return at or after ``at`` (the text's end if none):
    a BERT tokenizer never joins across one, so a text cut there tokenizes as its parts."""
    ends = [e for e in (text.find(c, at) for c in " \t\n\r") if e >= 0]
    return min(ends, default=len(text))


def _ascii_table() -> tuple[bytes, bytes]:
    """Lowercase, and delete what BERT's ``clean_text`` drops: NUL and every control
    character but tab, newline and return (those three become spaces, like the space)."""
    table = bytes(range(256)).lower()
    drop = bytes(c for c in range(128) if (c < 32 and c not in (9, 10, 13)) or c == 127)
    return table, drop


_LOWER, _DROP = _ascii_table()


class WordPiece:
    """Token ids of a BERT WordPiece ``tokenizers.Tokenizer``, truncated to ``limit``, as
    ``tokenizer.encode(text, add_special_tokens=False).ids`` gives them."""

    def __init__(
        self,
        tokenizer: Any,
        vocab: dict[str, int],
        *,
        unk_id: int,
        prefix: str,
        max_word_chars: int,
        specials: list[str],
        limit: int | None,
    ) -> None:
        self.tokenizer = tokenizer
        self.limit = limit
        self._word = {w: i for w, i in vocab.items() if len(w) <= max_word_chars}
        self._continued = {w[len(prefix) :]: i for w, i in vocab.items() if w.startswith(prefix)}
        self._unk = unk_id
        self._max_word_chars = max_word_chars
        self._longest = max(map(len, vocab), default=0)  # no longer piece is in the vocab
        self._specials = (
            re.compile("|".join(re.escape(s) for s in specials), re.IGNORECASE)
            if specials
            else None
        )
        self._split: dict[str, list[int]] = {}  # pieces of out-of-vocabulary words seen

    @classmethod
    def of(cls, tokenizer: Any, limit: int | None) -> WordPiece | None:
        """A fast stand-in for ``tokenizer`` (truncating at ``limit`` tokens), or None unless
        it is a lowercasing BERT normalizer, pre-tokenizer and WordPiece model."""
        state = json.loads(tokenizer.to_str())
        norm, pre, model = state.get("normalizer"), state.get("pre_tokenizer"), state["model"]
        if not (
            isinstance(norm, dict)
            and norm.get("type") == "BertNormalizer"
            and norm.get("clean_text") is True
            and norm.get("lowercase") is True
            and isinstance(pre, dict)
            and pre.get("type") == "BertPreTokenizer"
            and model.get("type") == "WordPiece"
            and isinstance(model.get("unk_token"), str)
            and model["unk_token"] in model["vocab"]
            and not any(t.get("normalized") for t in state.get("added_tokens", []))
        ):
            return None
        return cls(
            tokenizer,
            model["vocab"],
            unk_id=model["vocab"][model["unk_token"]],
            prefix=model.get("continuing_subword_prefix", "##"),
            max_word_chars=int(model.get("max_input_chars_per_word", 100)),
            specials=[t["content"] for t in state.get("added_tokens", [])],
            limit=limit,
        )

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's ids."""
        return [self.encode(t) for t in texts]

    def encode(self, text: str, split: dict[str, list[int]] | None = None) -> list[int]:
        """The ids of ``text``; ``split`` remembers the pieces of out-of-vocabulary words
        (by default a memo kept across calls: the same rare words recur from query to
        query, and splitting one costs a dozen dict lookups)."""
        if self._specials is not None and self._specials.search(text):
            return self._slow([text])[0]
        if split is None:
            if len(self._split) > _MEMO_WORDS:
                self._split.clear()
            split = self._split
        if text.isascii():
            return self._ascii(text, split)
        if self.limit is None:
            return self._mixed(text, split)
        # As in _ascii, a long text in parts cut at whitespace, until the limit is reached:
        # the runs with non-ASCII characters beyond it are never looked for or tokenized.
        ids: list[int] = []
        done = 0
        while done < len(text) and len(ids) < self.limit:
            end = _next_space(text, done + (_FIRST_PART if done == 0 else _NEXT_PART))
            ids += self._mixed(text[done:end], split)
            done = end
        return ids[: self.limit]

    def _mixed(self, text: str, split: dict[str, list[int]]) -> list[int]:
        """ASCII stretches here, runs with non-ASCII characters through the tokenizer."""
        spans: list[tuple[int, int]] = []
        for m in _NON_ASCII.finditer(text):
            if spans and m.start() < spans[-1][1]:
                continue  # inside the run already taken
            begin = max(text.rfind(c, 0, m.start()) for c in " \t\n\r") + 1
            ends = [e for e in (text.find(c, m.end()) for c in " \t\n\r") if e >= 0]
            spans.append((begin, min(ends, default=len(text))))
        runs = self._slow([text[b:e] for b, e in spans])
        ids: list[int] = []
        done = 0
        for (begin, end), run in zip(spans, runs, strict=True):
            ids += self._ascii(text[done:begin], split) + run
            done = end
            if self.limit is not None and len(ids) >= self.limit:
                return ids[: self.limit]
        ids += self._ascii(text[done:], split)
        return ids if self.limit is None else ids[: self.limit]

    def _slow(self, texts: list[str]) -> list[list[int]]:
        encoded = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids for e in encoded]

    def _ascii(self, text: str, split: dict[str, list[int]]) -> list[int]:
        clean = text.encode("ascii").translate(_LOWER, _DROP).decode("ascii")
        if self.limit is None or len(clean) <= _FIRST_PART:
            return self._words(clean, split)
        # A long text in parts, cut at spaces (no token spans one, so the parts' tokens join
        # up), until the limit is reached: English runs ~4.5 characters a token, so 512
        # tokens end ~2,300 characters in, and the rest of a 3,072-character cut is skipped.
        ids: list[int] = []
        done = 0
        while done < len(clean) and len(ids) < self.limit:
            cut = clean.find(" ", done + (_FIRST_PART if done == 0 else _NEXT_PART))
            end = len(clean) if cut < 0 else cut
            ids += self._words(clean[done:end], split)
            done = end
        return ids[: self.limit]

    def _words(self, clean: str, split: dict[str, list[int]]) -> list[int]:
        words = _PRE_TOKEN.findall(clean)
        if self.limit is not None:
            del words[self.limit :]  # every word is at least one token
        found: list[int | None] = list(map(self._word.get, words))  # None: not a whole word
        if None not in found:
            return found  # type: ignore[return-value]
        out: list[int] = []
        done = 0
        while True:  # the words not in the vocabulary, found at C speed
            try:
                k = found.index(None, done)
            except ValueError:
                break
            out += found[done:k]  # type: ignore[arg-type]
            pieces = split.get(words[k])
            if pieces is None:
                pieces = split[words[k]] = self._pieces(words[k])
            out += pieces
            done = k + 1
        out += found[done:]  # type: ignore[arg-type]
        return out if self.limit is None else out[: self.limit]

    def _pieces(self, word: str) -> list[int]:
        """Greedy longest-match-first WordPiece; one [UNK] for a word it cannot cover."""
        if len(word) > self._max_word_chars:
            return [self._unk]
        out: list[int] = []
        start, vocab = 0, self._word
        while start < len(word):
            for end in range(min(len(word), start + self._longest), start, -1):
                i = vocab.get(word[start:end])
                if i is not None:
                    break
            else:
                return [self._unk]
            out.append(i)
            start, vocab = end, self._continued
        return out

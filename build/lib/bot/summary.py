"""Which sentences of the article make its summary.

Why extractive: measured on the bundled article, the default model's Arabic summary copied the opening
metaphor («رقعة لعبة الشطرنج ...») and sentence fragments, and the English summary written from it invented
"the US opened the warship 'Shark' in Ukraine". Sentences taken from the article cannot say what it does not;
choosing them by their vectors (close to the article as a whole and to its title, not close to each other:
maximal marginal relevance) covers the meeting, the visits, the experts' view and the US reaction instead of
the first paragraph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .retrieval import TextEncoder
from .text import Article, sentence_spans

SUMMARY_SENTENCES = 5
SUMMARY_WORDS = 140  # the summary stays short: sentences are added while they fit
DIVERSITY = 0.3  # weight against a sentence's closeness to those already chosen
MIN_CHARS, MAX_CHARS = 40, 450  # shorter: a heading or fragment; longer: a paragraph with no full stop
MAX_CANDIDATES = 400  # a very long article: its first sentences only, so the first summary stays quick


@dataclass(frozen=True)
class SummarySentence:
    start: int  # offset in Article.text
    text: str


def summary_sentences(article: Article, embedder: TextEncoder, count: int = SUMMARY_SENTENCES,
                      max_words: int = SUMMARY_WORDS) -> list[SummarySentence]:
    """The most central sentences while they fit in `count` sentences and `max_words` words, in article order."""
    chosen: list[SummarySentence] = []
    words = 0
    for sentence in ranked_sentences(article, embedder, count):
        words += len(sentence.text.split())
        if chosen and words > max_words:
            break  # not a less central sentence because it is shorter
        chosen.append(sentence)
    return sorted(chosen, key=lambda s: s.start)


def ranked_sentences(article: Article, embedder: TextEncoder, limit: int) -> list[SummarySentence]:
    """Up to `limit` sentences of the article, most central first, each next one also unlike those before it
    (maximal marginal relevance)."""
    body_end = article.body_start + len(article.body)
    candidates = [SummarySentence(a, article.text[a:b].strip())
                  for a, b in sentence_spans(article.text, article.body_start, body_end, 10 ** 9)]
    candidates = [s for s in candidates if MIN_CHARS <= len(s.text) <= MAX_CHARS][:MAX_CANDIDATES]
    if not candidates:
        return []
    vectors = embedder.encode_documents([s.text for s in candidates])
    centre = vectors.mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-9)
    relevance = vectors @ centre
    if article.title:
        relevance = (relevance + vectors @ embedder.encode_queries([article.title])[0]) / 2
    ranked: list[int] = []
    remaining = set(range(len(candidates)))
    while remaining and len(ranked) < limit:
        def score(i: int) -> float:
            closest = max((float(vectors[i] @ vectors[j]) for j in ranked), default=0.0)
            return (1 - DIVERSITY) * float(relevance[i]) - DIVERSITY * closest

        best = max(remaining, key=score)
        remaining.discard(best)
        ranked.append(best)
    return [candidates[i] for i in ranked]

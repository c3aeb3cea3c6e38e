"""Baselines any fair benchmark needs, trained and scored on exactly the model's split.

* ``KmerLogistic``: k-mer frequency vectors (scikit-learn CountVectorizer over characters,
  L1-normalized) and L2 logistic regression, the standard non-neural promoter baseline.
  ``both_strands=True`` counts the k-mers of the sequence and of its reverse complement.
"""

from __future__ import annotations

import numpy as np

from plantllm.core.sequence import reverse_complement


class KmerLogistic:
    """k-mer logistic regression fitted on a train split; ``score`` gives P(class 1)."""

    def __init__(self, train_seqs: list[str], train_y: np.ndarray, *, k: int = 6, C: float = 1.0, seed: int = 0,
                 both_strands: bool = False):
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, normalize

        self.name = f"{k}-mer logistic"
        self.both_strands = both_strands
        self.pipe = make_pipeline(CountVectorizer(analyzer="char", ngram_range=(k, k), lowercase=False),
                                  FunctionTransformer(lambda X: normalize(X, norm="l1")),
                                  LogisticRegression(C=C, max_iter=2000, random_state=seed))
        self.pipe.fit(self._text(train_seqs), np.asarray(train_y))

    def _text(self, seqs: list[str]) -> list[str]:
        if self.both_strands:
            # separated by a space so that no k-mer spans the join
            return [s.upper() + " " + reverse_complement(s.upper()) for s in seqs]
        return [s.upper() for s in seqs]

    def score(self, seqs: list[str]) -> np.ndarray:
        return self.pipe.predict_proba(self._text(seqs))[:, 1]


def kmer_logistic(train_seqs: list[str], train_y: np.ndarray, test_seqs: list[str], *, k: int = 6,
                  C: float = 1.0, seed: int = 0) -> np.ndarray:
    """Test-set probabilities of class 1 from a both-strand k-mer logistic regression."""
    return KmerLogistic(train_seqs, train_y, k=k, C=C, seed=seed, both_strands=True).score(test_seqs)

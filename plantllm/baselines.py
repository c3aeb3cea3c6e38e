"""Baselines any fair benchmark needs, trained and scored on exactly the model's split.

* ``kmer_logistic``: k-mer frequency vectors (scikit-learn CountVectorizer over characters,
  both strands counted) and L2 logistic regression, the standard non-neural promoter baseline.
"""

from __future__ import annotations

import numpy as np

from .sequence import reverse_complement


def _both_strands(seqs: list[str]) -> list[str]:
    # k-mers of the sequence and of its reverse complement, separated so no k-mer spans the join
    return [s.upper() + " " + reverse_complement(s.upper()) for s in seqs]


def kmer_logistic(train_seqs: list[str], train_y: np.ndarray, test_seqs: list[str], *, k: int = 6,
                  C: float = 1.0, seed: int = 0) -> np.ndarray:
    """Test-set probabilities of class 1 from a k-mer logistic regression fitted on the train set."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import normalize, FunctionTransformer

    vec = CountVectorizer(analyzer="char", ngram_range=(k, k), lowercase=False)
    model = make_pipeline(vec, FunctionTransformer(lambda X: normalize(X, norm="l1")),
                          LogisticRegression(C=C, max_iter=2000, random_state=seed))
    model.fit(_both_strands(train_seqs), np.asarray(train_y))
    return model.predict_proba(_both_strands(test_seqs))[:, 1]

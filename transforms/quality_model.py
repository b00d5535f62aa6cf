"""Model-based quality score: a fastText classifier a user trained or downloaded (FineWeb-Edu- or
DCLM-style), loaded from a path.

Pure core (no Beam). :class:`QualityClassifier` loads the model once and scores texts in batches:
``quality_model_score`` is the probability the model gives to the configured label
(``quality.classifier_label``), ``quality_model_label`` the label it ranks first. A missing file,
a file that is not a fastText model, or a label the model does not know is a
:class:`QualityModelError` naming the path. Requires fastText's Python bindings
(``pip install 'refinery[classifier]'``); nothing is downloaded.
"""

from __future__ import annotations

import os


class QualityModelError(ValueError):
    """The configured quality classifier cannot be used (message names the path and why)."""


class QualityClassifier:
    def __init__(self, path: str, label: str):
        if not os.path.isfile(path):
            raise QualityModelError(f"quality.classifier: {path}: no such file")
        try:
            import fasttext
        except ImportError:
            raise QualityModelError("quality.classifier needs fastText's Python bindings: "
                                    "pip install 'refinery[classifier]' (fasttext-wheel)") from None
        fasttext.FastText.eprint = lambda *_a, **_k: None  # its load-time warning goes to stderr per worker
        try:
            self.model = fasttext.load_model(path)
        except (ValueError, RuntimeError, MemoryError) as exc:
            raise QualityModelError(f"quality.classifier: {path}: not a fastText model ({exc})") from None
        labels = list(self.model.get_labels())
        if not labels or not str(labels[0]).startswith("__label__"):
            raise QualityModelError(f"quality.classifier: {path}: a fastText model without labels (not a classifier)")
        if label not in labels:
            raise QualityModelError(f"quality.classifier_label: {label!r} is not a label of {path} "
                                    f"(labels: {', '.join(labels[:10])})")
        self.path, self.label = path, label

    def score(self, texts: list[str]) -> list[tuple[float, str]]:
        """(probability of the configured label, top label) per text, in one predict call."""
        if not texts:
            return []
        lines = [" ".join(t.split()) for t in texts]  # fastText reads one line per text
        labels, probs = self.model.predict(lines, k=-1)
        out = []
        for ls, ps in zip(labels, probs, strict=True):
            p = dict(zip(ls, ps.tolist(), strict=True))
            out.append((float(p.get(self.label, 0.0)), ls[0] if ls else ""))
        return out

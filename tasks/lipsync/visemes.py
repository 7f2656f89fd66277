"""The viseme set shared by lip sync (which produces weights) and render (which reads them).

``VISEMES`` is the Oculus 15 set, in the column order of every viseme weight matrix
``(n_frames, 15)`` that travels between the steps: ``sil`` (silence / rest), ``PP`` (p b m),
``FF`` (f v), ``TH``, ``DD`` (t d), ``kk`` (k g), ``CH`` (tʃ dʒ ʃ), ``SS`` (s z), ``nn`` (n l),
``RR`` (r), ``aa``, ``E``, ``ih``, ``oh``, ``ou``.
"""

from __future__ import annotations

VISEMES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
)

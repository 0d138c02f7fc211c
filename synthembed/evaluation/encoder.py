"""An mteb encoder for SentenceTransformer folders that applies the E5 evaluation protocol (spec §6.2, §8.6).

Models saved by the trainer carry a query template in their folder settings (synthembed.model_folder); for them:
- the per-task instruction (instructions.py) goes into the template: on queries only for Retrieval, on every input
  for all other task types (STS, Summarization, PairClassification, Clustering, Classification, BitextMining, and
  Reranking queries *and* candidates);
- embeddings are L2-normalized, except for Classification (the trained Normalize module is skipped there);
- max length 512 tokens (instruction included), fp16 weights on a GPU.
Models without that file (e.g. all-MiniLM-L6-v2) are evaluated plainly, exactly as mteb's own ST wrapper would.
SentenceTransformer.encode sorts each call's inputs by length before batching, so padding stays small.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from mteb.models import ModelMeta
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ScoringFunction
from mteb.types import PromptType

from synthembed.evaluation.instructions import get_instruction
from synthembed.model_folder import FolderSettings, read_settings

logger = logging.getLogger(__name__)

MAX_LENGTH = 512


class E5ProtocolEncoder(AbsEncoder):
    """Wraps a SentenceTransformer; `record_inputs`, when a list, receives (task, prompt_type, texts) per call."""

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        device: str | None = None,
        batch_size: int = 32,
        fp16: bool | None = None,
        bf16: bool = False,
        max_seq_length: int | None = None,
        doc_as_query: bool = False,
        instruction_overrides: dict[str, str] | None = None,
        model_name: str | None = None,
    ) -> None:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.models import Normalize

        path = Path(model_name_or_path)
        self.settings = read_settings(path) or FolderSettings(query_template=None)
        self.template = self.settings.template
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.model.default_prompt_name = None  # prompts are applied here, per task, never implicitly
        if self.template:
            self.model.max_seq_length = max_seq_length or min(self.settings.max_seq_length or MAX_LENGTH, MAX_LENGTH)
        elif max_seq_length:
            self.model.max_seq_length = max_seq_length
        if fp16 is None:
            fp16 = self.model.device.type == "cuda"
        if fp16:
            self.model.half()
        self.bf16 = bf16 and not fp16  # autocast, as the trainer's `bf16: true`: fp32 weights, bf16 matmuls
        self.model.eval()
        modules = list(self.model)
        # A view of the same weights without the final Normalize: the classification encoder (spec §6.2).
        self._unnormalized = (
            SentenceTransformer(
                modules=[m for m in modules if not isinstance(m, Normalize)], device=str(self.model.device)
            )
            if any(isinstance(m, Normalize) for m in modules)
            else self.model
        )
        self._has_normalize = self._unnormalized is not self.model
        self.batch_size = batch_size
        self.doc_as_query = doc_as_query
        self.instruction_overrides = instruction_overrides or {}
        self.record_inputs: list[tuple[str, str | None, list[str]]] | None = None
        self._cache_key: tuple | None = None
        self._cache: dict[str, np.ndarray] = {}
        self.name = model_name or (path.name if path.exists() else str(model_name_or_path))
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites=dict(
                name=f"synthembed/{self.name}" if "/" not in self.name else self.name,
                revision="local",
                similarity_fn_name=ScoringFunction.COSINE,
                framework=["Sentence Transformers", "PyTorch"],
                max_tokens=self.model.max_seq_length,
                embed_dim=getattr(
                    self.model, "get_embedding_dimension", self.model.get_sentence_embedding_dimension
                )(),
                use_instructions=bool(self.template),
                open_weights=True,
            )
        )

    # -- protocol -----------------------------------------------------------------------------------------------
    def instruction_for(self, task_name: str, task_type: str) -> str:
        return self.instruction_overrides.get(task_name) or get_instruction(task_name, task_type)

    def prepare(self, texts: list[str], task_name: str, task_type: str, prompt_type: PromptType | None) -> list[str]:
        """The exact strings the model encodes for these inputs."""
        if not self.template:
            return texts
        is_query = prompt_type is None or prompt_type == PromptType.query
        if task_type == "Retrieval" and not is_query and not (self.doc_as_query and "quora" in task_name.lower()):
            return texts
        prompt = self.template.prompt(self.instruction_for(task_name, task_type))
        return [prompt + t for t in texts]

    def normalizes(self, task_type: str) -> bool:
        return task_type != "Classification" if self.template else self._has_normalize

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str, prompt_type=None, **kwargs: Any):
        import torch

        autocast = torch.autocast(self.model.device.type, dtype=torch.bfloat16, enabled=self.bf16)
        with torch.inference_mode(), autocast:  # local to encoding: never switch autograd off for the process
            return self._encode(inputs, task_metadata, hf_subset, prompt_type, **kwargs)

    def _encode(self, inputs, task_metadata, hf_subset: str, prompt_type=None, **kwargs: Any):
        texts = [t for batch in inputs for t in batch["text"]]
        texts = self.prepare(texts, task_metadata.name, task_metadata.type, prompt_type)
        if self.record_inputs is not None:
            self.record_inputs.append((task_metadata.name, getattr(prompt_type, "value", prompt_type), texts))
        if self.template:
            model = self.model if self.normalizes(task_metadata.type) else self._unnormalized
        else:
            model = self.model  # plain: the model as saved
        # Each distinct string is encoded once per task (STS/pair sets repeat sentences a lot, e.g. SICK-R).
        key = (task_metadata.name, hf_subset, model is self.model)
        if key != self._cache_key:
            self._cache_key, self._cache = key, {}
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            embeddings = model.encode(
                todo,
                batch_size=kwargs.get("batch_size") or self.batch_size,
                show_progress_bar=kwargs.get("show_progress_bar", False),
                convert_to_numpy=True,
            )
            self._cache.update(zip(todo, np.asarray(embeddings, dtype=np.float32)))
        return np.stack([self._cache[t] for t in texts])

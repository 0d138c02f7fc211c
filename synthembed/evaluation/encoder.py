"""An mteb encoder for SentenceTransformer models that applies the E5 evaluation protocol (Wang et al., 2024, §4.2,
as the official `microsoft/unilm` e5 scripts `mteb_beir_eval.py` and `mteb_except_retrieval_eval.py` run it).

Models saved by the trainer carry a query template in their folder settings (synthembed.model_folder); any other
model (a Hub id or a folder, e.g. intfloat/e5-mistral-7b-instruct or all-MiniLM-L6-v2) gets the protocol when a
template is given (`query_template`). Then:
- the per-task instruction (instructions.py) goes into the template: on queries only for Retrieval, on every input
  for all other task types (STS, Summarization, PairClassification, Clustering, Classification, BitextMining, and
  Reranking queries *and* candidates);
- embeddings are L2-normalized by the model's final Normalize module, except for Classification (skipped there);
- last-token pooling pools the EOS (appended where the tokenizer no longer does, see `_pool_the_eos`);
- at most 512 tokens (instruction included), fp16 weights on a GPU.
Without a template a model is evaluated plainly: as saved, with no prompts at all.
SentenceTransformer.encode sorts each call's inputs by length before batching, so padding stays small.

The trainer also saves the instructions as per-task SentenceTransformer prompts (`config_sentence_transformers.json`,
`instructions.sentence_transformer_prompts`), so plain `mteb.evaluate(SentenceTransformer(folder), tasks)` puts the
same instruction on the same inputs. What prompts cannot say, and only this encoder does: no L2 normalization for
Classification (plain mteb keeps the Normalize module: classification scores differ), the 512-token cap (plain mteb
uses the folder's `max_seq_length`), fp16 on a GPU, instructions from a local task's task.json, and `doc_as_query`.
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
from synthembed.model_folder import CONFIG_NAME, FolderSettings, QueryTemplate, read_settings, task_type_prefix

logger = logging.getLogger(__name__)

MAX_LENGTH = 512  # "only the first 512 tokens are evaluated" (Wang et al., 2024, §4.2)


def folder_settings(model_name_or_path: str | Path) -> FolderSettings:
    """The settings a synthembed model records (a local folder, or a Hub repo the trainer's folder was pushed to);
    empty settings (no template: a plain model) for any other model."""
    folder = Path(model_name_or_path)
    if not folder.is_dir():
        from huggingface_hub import hf_hub_download

        try:
            folder = Path(hf_hub_download(str(model_name_or_path), CONFIG_NAME)).parent
        except Exception as e:  # not there (a plain model), or no network: SentenceTransformer reports a missing model
            logger.debug("%s: no %s on the Hub (%s)", model_name_or_path, CONFIG_NAME, type(e).__name__)
    return read_settings(folder) or FolderSettings(query_template=None)


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
        query_template: str | None = None,
        default_instruction: str | None = None,
    ) -> None:
        """`model_name_or_path`: a local folder or a Hub id. `query_template` (with `default_instruction`, for tasks
        the table lacks) applies the E5 protocol to a model whose folder does not record a template."""
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.models import Normalize

        path = Path(model_name_or_path)
        settings = folder_settings(model_name_or_path)
        if query_template:
            QueryTemplate(query_template)  # ValueError for a malformed template, before the model loads
            settings = FolderSettings(
                query_template=query_template,
                default_instruction=default_instruction or settings.default_instruction,
                max_seq_length=settings.max_seq_length,
            )
        self.settings = settings
        self.template = self.settings.template
        self.model = SentenceTransformer(str(model_name_or_path), device=device)
        self.model.default_prompt_name = None  # prompts are applied here, per task, never implicitly
        if self.template:
            own_limit = self.settings.max_seq_length or self.model.max_seq_length or MAX_LENGTH
            self.model.max_seq_length = max_seq_length or min(own_limit, MAX_LENGTH)
        elif max_seq_length:
            self.model.max_seq_length = max_seq_length
        if fp16 is None:
            fp16 = self.model.device.type == "cuda"
        if fp16:
            self.model.half()
        self.bf16 = bf16 and not fp16  # autocast, as the trainer's `bf16: true`: fp32 weights, bf16 matmuls
        self.model.eval()
        if self.template:
            self._pool_the_eos(str(model_name_or_path))
        modules = list(self.model)
        # A view of the same weights without the final Normalize: the classification encoder (the official script:
        # "disable l2 normalize for classification tasks, as it achieves slightly better results").
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

    def _pool_the_eos(self, name: str) -> None:
        """Last-token pooling pools the EOS under the E5 protocol. Some tokenizers stopped appending it under
        transformers >= 5 (intfloat/e5-mistral-7b-instruct: `add_eos_token` is ignored, mteb PR #5237), which pools
        the last content token instead: put the EOS back, as the trainer's saved tokenizers have it."""
        from sentence_transformers.models import Pooling

        tokenizer = self.model.tokenizer
        last_token = any(isinstance(m, Pooling) and m.pooling_mode == "lasttoken" for m in self.model)
        if not (last_token and getattr(tokenizer, "is_fast", False) and tokenizer.eos_token_id is not None):
            return
        if tokenizer("a")["input_ids"][-1] == tokenizer.eos_token_id:
            return
        from synthembed.saving import eos_appending_tokenizer

        tokenizer.backend_tokenizer.post_processor = eos_appending_tokenizer(
            tokenizer
        ).backend_tokenizer.post_processor
        logger.warning("%s: the tokenizer does not append EOS; appending it for last-token pooling", name)

    # -- protocol -----------------------------------------------------------------------------------------------
    def instruction_for(self, task_name: str, task_type: str) -> str:
        if self.settings.task_type_prefixes is not None:  # the "w/ task type prefix" ablation (Table 5)
            return task_type_prefix(self.settings.task_type_prefixes, task_type)
        return self.instruction_overrides.get(task_name) or get_instruction(
            task_name, task_type, self.settings.instruct_symmetric_tasks
        )

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

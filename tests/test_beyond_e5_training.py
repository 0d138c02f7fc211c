"""Training-side parts of the options beyond the paper: bidirectional attention saved for SentenceTransformer, the
collator's hard-negative owners, the teacher-embedding cache, and distillation through GradCache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import build_tiny_gemma3

from synthembed.configs import DataArguments, ModelArguments
from synthembed.data import ContrastiveCollator, EOSTokenizer, text_id
from synthembed.modeling import EmbeddingModel

TEXTS = ["hi there", "a much longer text that will certainly be truncated by the tokenizer", "mid length text"]


@pytest.fixture(scope="module")
def tiny_gemma3_dir(tmp_path_factory):
    return build_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3"))


def test_bidirectional_gemma3_saved_folder_encodes_exactly_as_trained(tiny_gemma3_dir, tmp_path):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from synthembed.saving import export_sentence_transformer

    args = dict(model_name_or_path=str(tiny_gemma3_dir), pooling="mean", lora_r=4, dtype="float32")
    model = EmbeddingModel.from_args(ModelArguments(**args, use_bidirectional_attention=True)).eval()
    causal = EmbeddingModel.from_args(ModelArguments(**args)).eval()
    with torch.no_grad():  # LoRA B off zero, so that merging matters
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    data_args = DataArguments(dataset_mixture=[{"path": str(tiny_gemma3_dir)}], max_seq_length=16)
    tokenizer = AutoTokenizer.from_pretrained(tiny_gemma3_dir)
    export_sentence_transformer(
        model.state_dict(), model.config, tokenizer, ModelArguments(**args), data_args, tmp_path
    )
    collator = ContrastiveCollator(EOSTokenizer(tokenizer, 16, append_eos=False), data_args.query_template, 0)
    batch = collator([{"query": t, "positive": t, "negatives": [], "instruction": "Retrieve it"} for t in TEXTS])
    assert batch["documents"]["attention_mask"].shape[1] > 4, "texts must be longer than the sliding window"
    with torch.no_grad():
        documents = torch.nn.functional.normalize(model(**batch["documents"]), dim=-1).numpy()
        bare = causal.backbone.get_base_model()(**batch["documents"]).last_hidden_state
        trained = model.backbone.get_base_model()(**batch["documents"]).last_hidden_state
    # the switch changes what the first token sees (causal: itself only)
    assert not torch.allclose(bare[:, 0], trained[:, 0], atol=1e-3)
    st = SentenceTransformer(str(tmp_path), device="cpu")
    assert st[0].auto_model.config.use_bidirectional_attention
    np.testing.assert_allclose(st.encode(TEXTS), documents, atol=1e-5)


def test_bidirectional_refused_for_an_architecture_without_the_switch(tiny_mistral_dir):
    from synthembed.modeling import bidirectional_config

    with pytest.raises(ValueError, match="use_bidirectional_attention"):
        bidirectional_config(str(tiny_mistral_dir))


def test_collator_records_the_owner_of_every_hard_negative(tiny_mistral_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_mistral_dir)
    collator = ContrastiveCollator(EOSTokenizer(tokenizer, 16, append_eos=True), "{query}", num_hard_negatives=2)
    rows = [
        {"query": "a", "positive": "b", "negatives": [], "instruction": ""},
        {"query": "c", "positive": "d", "negatives": ["e", "f", "g"], "instruction": ""},
        {"query": "h", "positive": "i", "negatives": ["j"], "instruction": ""},
    ]
    batch = collator(rows)
    assert batch["negative_owners"].tolist() == [1, 1, 2]
    assert batch["negative_ids"].tolist() == [text_id(t) for t in "efj"]
    assert batch["query_ids"].tolist() == [text_id(t) for t in "ach"]


def test_teacher_cache_resumes_and_refuses_another_teacher(minilm_dir, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    import synthembed.teacher as teacher_module
    from synthembed.teacher import TeacherEmbeddings

    monkeypatch.setattr(teacher_module, "BLOCK", 2)
    queries, documents = ["what is a cat", "who wrote it"], ["A cat is an animal.", "She wrote it.", "Dogs bark."]
    cache = TeacherEmbeddings(str(minilm_dir), tmp_path / "cache", batch_size=2)
    cache.ensure(queries[:1], documents[:2], device="cpu")
    blocks = sorted(p.name for p in (tmp_path / "cache").glob("*.safetensors"))
    assert blocks == ["document-00000.safetensors", "query-00000.safetensors"]
    again = TeacherEmbeddings(str(minilm_dir), tmp_path / "cache", batch_size=2)
    again.ensure(queries, documents, device="cpu")  # only the new texts are encoded, in new blocks
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 4
    expected = SentenceTransformer(str(minilm_dir), device="cpu").encode(documents, normalize_embeddings=True)
    got = again.lookup(torch.tensor([text_id(t) for t in documents]), "document").numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(KeyError, match="no teacher embedding"):
        again.lookup(torch.tensor([text_id("never seen")]), "query")
    with pytest.raises(ValueError, match="holds embeddings of"):
        TeacherEmbeddings("other/teacher", tmp_path / "cache").ensure(queries, documents)


@pytest.mark.parametrize("distill_texts", ["queries", "all"])
def test_grad_cache_equals_plain_step_with_distillation(tiny_mistral_dir, distill_texts):
    """The cached step's parameter gradients equal the plain step's with every loss option on, graded pairs among
    the rows (CoSENT) and rows with their own distillation weights."""
    from transformers import AutoTokenizer

    from synthembed.embedding import Chunking, embed, split
    from synthembed.grad_cache import grad_cache_step
    from synthembed.losses import InfoNCELoss

    tokenizer = AutoTokenizer.from_pretrained(tiny_mistral_dir)
    model_args = ModelArguments(model_name_or_path=str(tiny_mistral_dir), lora_r=4, lora_dropout=0.0, dtype="float32")
    model = EmbeddingModel.from_args(model_args).to(torch.float64)  # float32 sums differ by ~2e-6 between orders
    collator = ContrastiveCollator(
        EOSTokenizer(tokenizer, 16, append_eos=True), "Instruct: {instruction}\nQuery: {query}", graded=True,
        distill_weights=True,
    )  # fmt: skip
    rows = [
        {"query": f"query {i} " * (i + 1), "positive": f"doc {i}", "negatives": [f"neg {i}"] if i % 3 else [],
         "instruction": "find", "pair_score": [float("nan"), 0.2, 0.9, float("nan"), 0.5, 0.2][i],
         "distill_weight": [2.0, float("nan"), 0.5, 0.0, float("nan"), 1.5][i]}
        for i in range(6)
    ]  # fmt: skip
    batch = collator(rows)
    g = torch.Generator().manual_seed(0)
    batch["teacher_query"] = torch.randn(6, 5, generator=g, dtype=torch.float64)
    batch["teacher_positive"] = torch.randn(6, 5, generator=g, dtype=torch.float64)
    batch["teacher_negative"] = torch.randn(len(batch["negative_ids"]), 5, generator=g, dtype=torch.float64)
    options = dict(hardness_alpha=5.0, false_negative_margin=0.1, gor_weight=0.5, distill_weight=1.0)
    options["distill_texts"] = distill_texts
    loss_fn = InfoNCELoss(0.05, mask_false_negatives=True, **options)
    params = [p for p in model.parameters() if p.requires_grad]

    out = loss_fn(**split(embed(model, batch), batch))
    out.loss.backward()
    plain = [p.grad.clone() for p in params]
    model.zero_grad()
    cached = grad_cache_step(model, batch, loss_fn, Chunking(chunk_size=2))
    assert cached.loss.item() == pytest.approx(out.loss.item(), abs=1e-6)
    assert {"distill_kl", "gor", "cosent"} <= set(cached.metrics) and cached.metrics["cosent"] > 0
    for a, b in zip(plain, [p.grad for p in params]):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


@pytest.mark.slow
def test_zero3_two_processes_with_grad_cache_and_every_option(tmp_path, tiny_mistral_dir, minilm_dir):
    """`accelerate launch` under ZeRO-3 on 2 processes with GradCache, gathering, hardness weighting, the margin
    mask, the regulariser and distillation from MiniLM (cached by the main process, read by both)."""
    import json

    from helpers.launch import launch, write_recipe

    from synthembed.model_folder import read_settings

    options = dict(hardness_alpha=5.0, false_negative_margin=0.1, gor_weight=0.1, distill_teacher=str(minilm_dir))
    options.update(
        teacher_cache_dir=str(tmp_path / "teacher"), grad_cache=True, embed_chunk_size=3, save_strategy="no"
    )
    options["distill_texts"] = "all"  # the whole batch's texts against each other, gathered across the 2 ranks
    data = str(tmp_path / "train.jsonl")  # written by write_recipe; the entry with its own distillation weight
    options["dataset_mixture"] = [{"path": data, "name": "toy", "distill_weight": 0.5}]
    recipe = write_recipe(tmp_path, tiny_mistral_dir, **options)
    launch("cpu_zero3.yaml", recipe)
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    logged = [h for h in state["log_history"] if "loss" in h]
    assert len(logged) == 4 and all({"distill_kl", "gor"} <= set(h) for h in logged)
    assert all(h["distill_kl"] == h["distill_kl"] and h["distill_kl"] > 0 for h in logged)
    training = read_settings(tmp_path / "out").training
    assert training["distill_teacher"] == str(minilm_dir) and training["hardness_alpha"] == 5.0
    assert "teacher_encode_s" in training and training["distill_texts"] == "all"
    assert training["distill_weight_by_entry"] == {"toy": 0.5}
    assert len(list((tmp_path / "teacher").glob("query-*.safetensors"))) == 1  # 48 bare queries, one block

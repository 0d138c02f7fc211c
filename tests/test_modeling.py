"""The embedding model on real small models: EOS pooling under both paddings, LoRA gradients, seam-2 export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthembed.configs import ConfigError, DataArguments, ModelArguments
from synthembed.data import ContrastiveCollator, EOSTokenizer
from synthembed.embedding import embed, split
from synthembed.losses import InfoNCELoss
from synthembed.model_folder import read_settings
from synthembed.modeling import EmbeddingModel, last_token_positions

TEXTS = ["short", "a somewhat longer text with several more words in it", "mid length sentence here"]


def rows():
    return [
        {"query": t, "positive": t[::-1], "negatives": [t.upper()], "instruction": "Retrieve it" if i else ""}
        for i, t in enumerate(TEXTS)
    ]


@pytest.mark.parametrize("side", ["left", "right"])
def test_pooled_position_is_eos_for_every_row(gemma_dir, side):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gemma_dir, padding_side=side)
    tokenize = EOSTokenizer(tokenizer, max_length=12, append_eos=True)
    batch = ContrastiveCollator(tokenize, DataArguments.query_template, 1)(rows())
    for features in (batch["query"], batch["documents"]):
        ids, mask = features["input_ids"], features["attention_mask"]
        assert (mask.sum(1) < mask.shape[1]).any(), "the batch must contain padding"
        pos = last_token_positions(mask)
        rows_ = torch.arange(ids.shape[0])
        assert (ids[rows_, pos] == tokenizer.eos_token_id).all()
        assert (mask[rows_, pos] == 1).all()
    # truncation keeps the EOS: the longest text is cut to 12 tokens, the last of which is EOS
    assert batch["query"]["input_ids"].shape[1] <= 16


def test_lora_only_adapters_get_gradients(gemma_dir):
    from transformers import AutoTokenizer

    args = ModelArguments(model_name_or_path=str(gemma_dir), dtype="float32", lora_r=4)
    model = EmbeddingModel.from_args(args, gradient_checkpointing=True)
    model.train()
    tokenizer = AutoTokenizer.from_pretrained(gemma_dir)
    batch = ContrastiveCollator(EOSTokenizer(tokenizer, 16, append_eos=True), DataArguments.query_template, 1)(rows())
    InfoNCELoss()(**split(embed(model, batch), batch)).loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert with_grad and all("lora_" in n for n in with_grad)
    assert with_grad <= trainable and all("lora_" in n for n in trainable)
    targeted = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= targeted


def test_full_fine_tuning_with_frozen_embeddings_trains_every_other_weight(tiny_mistral_dir):
    from transformers import AutoTokenizer

    args = ModelArguments(model_name_or_path=str(tiny_mistral_dir), dtype="float32", use_lora=False,
                          freeze_embeddings=True)  # fmt: skip
    model = EmbeddingModel.from_args(args).train()
    tokenizer = AutoTokenizer.from_pretrained(tiny_mistral_dir)
    batch = ContrastiveCollator(EOSTokenizer(tokenizer, 16, append_eos=True), DataArguments.query_template, 1)(rows())
    InfoNCELoss()(**split(embed(model, batch), batch)).loss.backward()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"backbone.embed_tokens.weight"}
    assert all(p.grad is not None for n, p in model.named_parameters() if n not in frozen)
    with pytest.raises(ConfigError, match="`freeze_embeddings` applies to use_lora: false"):
        ModelArguments(model_name_or_path=str(tiny_mistral_dir), freeze_embeddings=True)


def test_minilm_saved_after_zero_steps_encodes_like_the_original(minilm_dir, tmp_path):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from synthembed.trainer import ContrastiveTrainer
    from synthembed.training_args import ContrastiveTrainingArguments

    model_args = ModelArguments(model_name_or_path=str(minilm_dir), pooling="mean", use_lora=False, dtype="float32")
    data_args = DataArguments(dataset_mixture=[{"path": str(minilm_dir)}], max_seq_length=256)
    args = ContrastiveTrainingArguments(output_dir=str(tmp_path / "runs"), report_to="none", use_cpu=True)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    trainer = ContrastiveTrainer(
        model=EmbeddingModel.from_args(model_args),
        args=args,
        processing_class=tokenizer,
        model_args=model_args,
        data_args=data_args,
    )
    trainer.save_model(str(tmp_path / "out"))
    texts = TEXTS + ["The quick brown fox jumps over the lazy dog. " * 40]
    original = SentenceTransformer(str(minilm_dir), device="cpu").encode(texts)
    saved = SentenceTransformer(str(tmp_path / "out"), device="cpu").encode(texts)
    cosine = (original * saved).sum(1) / np.linalg.norm(original, axis=1) / np.linalg.norm(saved, axis=1)
    assert cosine.min() >= 0.9999, cosine
    assert (tmp_path / "out" / "README.md").is_file()  # the card goes with the saved folder, not output_dir
    assert read_settings(tmp_path / "out").training["global_step"] == 0


def test_saved_decoder_encodes_exactly_as_trained(tiny_mistral_dir, tmp_path):
    """Seam 2 for last-token pooling: SentenceTransformer on the saved folder == the training forward (+ L2 norm)."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from synthembed.saving import export_sentence_transformer

    model_args = ModelArguments(model_name_or_path=str(tiny_mistral_dir), lora_r=4, dtype="float32")
    data_args = DataArguments(dataset_mixture=[{"path": str(tiny_mistral_dir)}], max_seq_length=8)
    model = EmbeddingModel.from_args(model_args).eval()
    with torch.no_grad():  # move the LoRA B matrices off zero so merging matters
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    tokenizer = AutoTokenizer.from_pretrained(tiny_mistral_dir)
    export_sentence_transformer(
        model.state_dict(), model.config, tokenizer, model_args, data_args, tmp_path / "st", save_adapter=True
    )
    texts = ["hi there", "a much longer text that will certainly be truncated by the tokenizer"]
    collator = ContrastiveCollator(EOSTokenizer(tokenizer, 8, append_eos=True), data_args.query_template, 0)
    batch = collator([{"query": t, "positive": t, "negatives": [], "instruction": "Retrieve it"} for t in texts])
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model(**batch["query"]), dim=-1).numpy()
        documents = torch.nn.functional.normalize(model(**batch["documents"]), dim=-1).numpy()
    st = SentenceTransformer(str(tmp_path / "st"), device="cpu")
    got = st.encode(texts, prompt="Instruct: Retrieve it\nQuery: ")
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(st.encode(texts), documents, atol=1e-5)
    assert (tmp_path / "st" / "adapter" / "adapter_config.json").is_file()


def test_weighted_mean_weighs_positions_from_the_first_real_token_under_either_padding():
    """SGPT's weights 1..n over a text's own tokens: the same vector whether the row is padded left or right."""
    from synthembed.modeling import pool

    torch.manual_seed(0)
    tokens = torch.randn(3, 4)  # one text of 3 tokens, hidden size 4
    expected = (tokens * torch.tensor([1.0, 2.0, 3.0]).unsqueeze(1)).sum(0) / 6
    right = torch.cat([tokens, torch.randn(2, 4)]).unsqueeze(0)  # two pad positions after the text
    left = torch.cat([torch.randn(2, 4), tokens]).unsqueeze(0)
    right_mask, left_mask = torch.tensor([[1, 1, 1, 0, 0]]), torch.tensor([[0, 0, 1, 1, 1]])
    torch.testing.assert_close(pool(right, right_mask, "weighted_mean")[0], expected)
    torch.testing.assert_close(pool(left, left_mask, "weighted_mean")[0], expected)
    assert left_mask.tolist() == [[0, 0, 1, 1, 1]]  # unilm's weightedavg changes the mask in place; ours must not


@pytest.mark.parametrize("side", ["left", "right"])
def test_saved_weighted_mean_folder_encodes_exactly_as_trained(tiny_mistral_dir, tmp_path, side):
    """Seam 2 for the Table 5 weighted-mean ablation: plain SentenceTransformer(path) pools as the training forward."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from synthembed.saving import export_sentence_transformer

    model_args = ModelArguments(
        model_name_or_path=str(tiny_mistral_dir), pooling="weighted_mean", lora_r=4, dtype="float32"
    )
    data_args = DataArguments(dataset_mixture=[{"path": str(tiny_mistral_dir)}], max_seq_length=8)
    model = EmbeddingModel.from_args(model_args).eval()
    with torch.no_grad():  # LoRA B off zero, so that merging matters
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    tokenizer = AutoTokenizer.from_pretrained(tiny_mistral_dir, padding_side=side)
    export_sentence_transformer(model.state_dict(), model.config, tokenizer, model_args, data_args, tmp_path / "st")
    texts = ["hi", "a much longer text that will certainly be truncated by the tokenizer", "mid length text"]
    collator = ContrastiveCollator(EOSTokenizer(tokenizer, 8, append_eos=False), data_args.query_template, 0)
    batch = collator([{"query": t, "positive": t, "negatives": [], "instruction": "Retrieve it"} for t in texts])
    assert (batch["documents"]["attention_mask"] == 0).any(), "the batch must contain padding"
    with torch.no_grad():
        queries = torch.nn.functional.normalize(model(**batch["query"]), dim=-1).numpy()
        documents = torch.nn.functional.normalize(model(**batch["documents"]), dim=-1).numpy()
    st = SentenceTransformer(str(tmp_path / "st"), device="cpu")
    assert st[1].pooling_mode == "weightedmean"
    np.testing.assert_allclose(st.encode(texts, prompt="Instruct: Retrieve it\nQuery: "), queries, atol=1e-5)
    np.testing.assert_allclose(st.encode(texts), documents, atol=1e-5)

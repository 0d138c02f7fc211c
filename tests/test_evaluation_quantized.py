"""Smaller embeddings, scored: truncation + sentence-transformers quantization under mteb's evaluators, the
(dim, precision) table in the summary and the card, and the Matryoshka dims a trained folder records."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.evaluation import make_retrieval_task, make_sts_task
from test_evaluation_cli import assert_one_line_failure, run_main

from synthembed.evaluation.quantized import QuantizedEncoder, Variant, bytes_per_vector, variants


@pytest.fixture(scope="module")
def minilm_encoder(minilm_dir):
    from synthembed.evaluation.encoder import E5ProtocolEncoder

    return E5ProtocolEncoder(minilm_dir, device="cpu")


def embeddings(n: int, d: int = 384, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_binary_cosine_is_the_hamming_ranking_and_bytes_are_the_packed_size(minilm_encoder):
    from sentence_transformers.util.quantization import quantize_embeddings

    x = embeddings(20)
    for dim in (384, 100):  # 100: a last byte with padding bits
        pm1 = QuantizedEncoder(minilm_encoder, Variant(dim, "binary"), {}).transform(x, "T", "STS")
        assert set(np.unique(pm1)) == {-1.0, 1.0} and pm1.shape == (20, dim)
        packed = quantize_embeddings(x[:, :dim], "ubinary")
        assert packed.shape[1] == bytes_per_vector(dim, "binary")
        hamming = np.unpackbits(packed[:, None, :] ^ packed[None, :, :], axis=-1).sum(-1)  # XOR of the codes
        cosine = pm1 @ pm1.T / dim
        np.testing.assert_allclose(cosine, 1 - 2 * hamming / dim, atol=1e-6)
    assert [bytes_per_vector(256, p) for p in ("float32", "int8", "uint8", "binary")] == [1024, 256, 256, 32]


def test_int8_codes_use_the_tasks_document_ranges(minilm_encoder):
    """Queries are coded with the ranges of the documents (one codebook per task), not their own."""
    docs, queries = embeddings(50, seed=1) * 0.5, embeddings(5, seed=2)  # queries reach beyond the docs' range
    encoder = QuantizedEncoder(minilm_encoder, Variant(128, "int8"), {"T": [docs]})
    codes = encoder.transform(queries, "T", "Retrieval")
    assert codes.min() >= -128 and codes.max() <= 127 and np.all(codes == np.round(codes))
    own = QuantizedEncoder(minilm_encoder, Variant(128, "int8"), {"T": [queries]}).transform(queries, "T", "Retrieval")
    assert not np.array_equal(codes, own)
    doc_codes = encoder.transform(docs, "T", "Retrieval")
    assert doc_codes.min() == -128 and doc_codes.max() == 127  # the docs span the whole code range


def test_variants_put_the_full_width_reference_first():
    pairs = variants(384, [64, 256], ["int8", "float32"])
    assert pairs[0] == Variant(384, "float32")
    assert [(v.dim, v.precision) for v in pairs[1:]] == [(384, "int8"), (256, "int8"), (256, "float32")] + [
        (64, "int8"),
        (64, "float32"),
    ]


def test_one_run_scores_every_pair_into_summary_and_card(minilm_dir, tmp_path, capsys):
    sts = make_sts_task(tmp_path / "TinySTS", n=30)
    retrieval = make_retrieval_task(tmp_path / "TinyRetrieval")
    out = tmp_path / "out"
    from synthembed.cli import evaluate

    summary = evaluate.main(
        [
            *("--model_name_or_path", str(minilm_dir), "--local_tasks", str(sts), str(retrieval)),
            *("--output_dir", str(out), "--show_progress_bar", "false"),
            *("--truncate_dims", "128", "--embedding_precisions", "float32", "int8", "binary"),
        ]
    )
    report = json.loads((out / "quantized.json").read_text())
    assert [(r["dim"], r["precision"], r["bytes"]) for r in report["rows"]] == [
        (384, "float32", 1536),
        (384, "int8", 384),
        (384, "binary", 48),
        (128, "float32", 512),
        (128, "int8", 128),
        (128, "binary", 16),
    ]
    reference = report["rows"][0]["scores"]
    assert reference == pytest.approx(summary["tasks"], abs=0.01)  # the wrapper at full width changes nothing
    assert len({r["scores"]["TinySTS"] for r in report["rows"]}) > 1  # truncation and quantization do change scores
    for label in ("384d-int8", "128d-binary"):  # mteb's own result files, one model name per pair
        assert list((out / "results").glob(f"*{label}/*/TinySTS.json"))
    assert summary["quantized"] == report
    assert json.loads((out / "summary.json").read_text())["quantized"] == report
    assert "| 128 | binary | 16 (×96 smaller) |" in (out / "summary.md").read_text()
    card = (out / "README.md").read_text()
    assert "dimensions × precision" in card and "| 128 | int8 | 128 (×12 smaller) |" in card
    assert "![Score against bytes per vector](quantized.png)" in card and (out / "quantized.png").stat().st_size


def test_bad_options_fail_with_one_line(minilm_dir, tmp_path, capsys):
    task = make_sts_task(tmp_path / "TinySTS")
    common = ("--model_name_or_path", minilm_dir, "--local_tasks", task, "--output_dir", tmp_path / "o")
    code, err = run_main(capsys, *common, "--embedding_precisions", "int4")
    assert_one_line_failure(code, err, "`embedding_precisions`", "int4")
    code, err = run_main(capsys, *common, "--truncate_dims", "512")
    assert_one_line_failure(code, err, "`truncate_dims`", "512 exceeds the model's embedding width 384")
    assert not (tmp_path / "o").exists()


def test_matryoshka_training_records_its_dims_in_the_folder_and_card(tmp_path, tiny_mistral_dir):
    """A real (1-step) run: the loss logs each prefix, the folder and the card carry the dims."""
    from helpers.launch import train_module, write_recipe

    from synthembed.model_folder import read_settings

    dims = dict(matryoshka_dims=[64, 16], matryoshka_weights=[1.0, 0.5])
    recipe = write_recipe(tmp_path, tiny_mistral_dir, max_steps=1, save_strategy="no", **dims)
    train_module().main(["--config", str(recipe), "--activation_checkpointing", "false"])
    out = tmp_path / "out"
    logged = json.loads((out / "trainer_state.json").read_text())["log_history"][0]
    assert {"loss_dim64", "loss_dim16"} <= set(logged)
    assert logged["loss"] == pytest.approx(logged["loss_dim64"] + 0.5 * logged["loss_dim16"], rel=1e-3)
    settings = read_settings(out)
    assert settings.matryoshka_dims == [64, 16] and settings.training["matryoshka_weights"] == [1.0, 0.5]
    card = (out / "README.md").read_text()
    assert "**Matryoshka dimensions:** 64, 16" in card and "truncate_dim=16)" in card

"""Tiny random models built from a config, for shape and distributed tests."""

from __future__ import annotations

from pathlib import Path

TINY_CORPUS = [
    "how much protein should a female eat",
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: ",
    "The quick brown fox jumps over the lazy dog.",
    "Embeddings map text to vectors; similar meanings land close together.",
    "Retrieve semantically similar text. Retrieve parallel sentences.",
    "positive negative document passage question answer label",
]


def tiny_tokenizer():
    """A 512-token byte-level BPE tokenizer (pad = EOS, as e5-mistral ships it)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(TINY_CORPUS * 20, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>"
    )


def build_tiny_mistral(output_dir: Path) -> Path:
    """A 2-layer random Mistral with the tiny tokenizer."""
    import torch
    from transformers import MistralConfig, MistralModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    sizes = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2)
    heads = dict(num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    config = MistralConfig(**sizes, **heads, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    MistralModel(config).save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def build_tiny_gemma3(output_dir: Path) -> Path:
    """A 2-layer random Gemma-3 text model (one sliding-window layer of 4 tokens, one global) with the tiny tokenizer."""
    import torch
    from transformers import Gemma3TextConfig, Gemma3TextModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, sliding_window=4, layer_types=["sliding_attention", "full_attention"],
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )  # fmt: skip
    Gemma3TextModel(config).save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir

"""A byte-level BPE trained locally on the HumanEval text, for models whose tokenizer cannot be downloaded.

Token counts drive throughput, so the tokenizer only has to be plausible for code (which a BPE trained on
code is) and to fit inside the model's vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL = "<|endoftext|>"
MAX_TRAINED_VOCAB = 8192


def build_tokenizer(folder: Path, vocab_size: int, max_length: int) -> None:
    """Write tokenizer.json and tokenizer_config.json into `folder` (transformers and vLLM both read them)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from .workloads import humaneval_corpus

    size = min(vocab_size, MAX_TRAINED_VOCAB)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=size,
        special_tokens=[SPECIAL],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(humaneval_corpus(), trainer=trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": SPECIAL,
                "eos_token": SPECIAL,
                "pad_token": SPECIAL,
                "unk_token": SPECIAL,
                "model_max_length": max_length,
                "padding_side": "left",
                "clean_up_tokenization_spaces": False,
            },
            indent=2,
        )
    )

"""Write a tiny random Llama model directory that vLLM (CPU build) can serve.

Run by the vLLM environment's python (it needs torch, transformers and tokenizers, which the
test environment lacks): `python make_hf_model.py DEST`. `hf_model.make_tiny_llama` is the
caller; this file imports nothing from the test suite.

The model is random, so the text is gibberish, but it is always non-empty: one residual
dimension (index 0) carries a constant from every token embedding, and the lm_head rows of the
special tokens point against it, so their logits sit about 40 below every word's. The server
therefore never samples end-of-sequence (or any other token that decodes to nothing) and every
completion runs to max_tokens with printable words.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
_WORD_TEXT = (
    "hello world the a an and or of to in on at is are was be it this that with for as "
    "from by not but all one two three four five six seven eight nine ten red green blue "
    "cat dog bird fish tree house river stone cloud light dark small large quick slow "
    "happy quiet loud warm cold new old good bad yes no say said model token server answer "
    "question short long sentence word time day night sun moon sea sky road city book "
    "song"
)
WORDS = [*_WORD_TEXT.split(), ".", ",", "!", "?"]

# Rendered with the request's messages; `add_generation_prompt` ends it with the assistant tag.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|> ' + message['content'] + ' <|end|> ' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

HIDDEN = 128
HEADS = 2  # head size 64: vLLM's CPU attention supports 32, 64, 80, 96, 112, 128, ...
KV_HEADS = 1
LAYERS = 2
INTERMEDIATE = 256
MAX_POSITIONS = 2048
CARRIER = 0  # residual dimension that stays positive for every token
CARRIER_VALUE = 1.0
SPECIAL_PENALTY = 5.0


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer: `▁word` tokens, unknown words become <unk>."""
    vocab = {token: index for index, token in enumerate(SPECIALS)}
    for word in WORDS:
        vocab.setdefault("▁" + word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(prepend_scheme="always")]
    )
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="always")
    tokenizer.add_special_tokens(SPECIALS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="</s>",
        additional_special_tokens=SPECIALS[3:],
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """Two random layers, width 128, with the special tokens' logits pushed far down."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        dtype="float32",
    )
    model = LlamaForCausalLM(config)
    special_ids = tokenizer.convert_tokens_to_ids(SPECIALS)
    with torch.no_grad():
        model.model.embed_tokens.weight[:, CARRIER] = CARRIER_VALUE
        model.lm_head.weight[:, CARRIER] = 0.0
        model.lm_head.weight[special_ids, CARRIER] = -SPECIAL_PENALTY
    model.generation_config.do_sample = True
    return model


def main(argv: list[str]) -> int:
    """Write the model and tokenizer to argv[1] and print the directory."""
    if len(argv) != 2:
        print("usage: make_hf_model.py DEST", file=sys.stderr)
        return 2
    dest = Path(argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer)
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    _check(dest)
    print(dest)
    return 0


def _check(dest: Path) -> None:
    """Reload what was written and make sure a greedy continuation is words, not specials."""
    tokenizer = PreTrainedTokenizerFast.from_pretrained(dest)
    model = LlamaForCausalLM.from_pretrained(dest)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Say hello in one short sentence."}],
        add_generation_prompt=True,
        tokenize=False,
    )
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits[0, -1]
    special_ids = tokenizer.convert_tokens_to_ids(SPECIALS)
    words = [i for i in range(len(tokenizer)) if i not in special_ids]
    margin = float(logits[words].min() - logits[special_ids].max())
    if margin < 10.0:
        raise SystemExit(f"special tokens are not suppressed (margin {margin:.1f})")
    config = json.loads((dest / "config.json").read_text())
    if config["hidden_size"] // config["num_attention_heads"] not in (32, 64):
        raise SystemExit("head size must be 32 or 64 for vLLM's CPU attention")


if __name__ == "__main__":
    sys.exit(main(sys.argv))

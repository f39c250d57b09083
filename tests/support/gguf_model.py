"""A tiny llama-architecture GGUF with random weights that llama-server loads and serves.

Recipe from /work/shared/engines/README.md: a SentencePiece-style ("llama") vocabulary with
<unk>, <s>, </s>, the 256 byte-fallback tokens and some printable words, a chat template,
2 layers of width 64 (about 0.5 MB, float32). The text it writes is gibberish, but never empty:

- every token embedding carries a constant +1 in dimension 0 and the layers add almost
  nothing (their output projections are scaled down), so after the final RMSNorm dimension 0
  of the hidden state is always clearly positive;
- the output projection gives printable tokens a large positive weight on dimension 0 and every
  other token (<unk>, <s>, </s>, bytes) the same weight negated, so printable tokens win by
  about 50 logits and end-of-sequence is never sampled. Sampling among printable tokens stays
  varied through the random remaining dimensions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_EMBD = 64
N_LAYERS = 2
N_HEAD = 4
N_FF = 128
CONTEXT = 2048
EOS_ID = 2

WORDS = (
    "hello",
    "world",
    "the",
    "a",
    "tiny",
    "model",
    "llama",
    "answers",
    "every",
    "question",
    "with",
    "some",
    "random",
    "words",
    "and",
    "yet",
    "it",
    "never",
    "stops",
    "before",
    "limit",
    "because",
    "end",
    "tokens",
    "cannot",
    "win",
    "here",
    "cat",
    "dog",
    "sun",
    "moon",
    "tree",
    "river",
    "stone",
    "cloud",
    "light",
    "fast",
    "slow",
    "green",
    "blue",
    "red",
)

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] + ': ' + message['content'] + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
)


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of the SentencePiece-style vocabulary."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{value:02X}>" for value in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    printable = ["\u2581"] + [f"\u2581{word}" for word in WORDS]
    printable += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += printable
    types += [gguf.TokenType.NORMAL] * len(printable)
    # SentencePiece merges prefer higher scores; longer pieces first keeps tokenization sane.
    scores = [0.0] * (3 + 256) + [float(len(t)) - 100.0 for t in printable]
    return tokens, scores, [int(t) for t in types]


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """Write the tiny model to `path` and return it."""
    import gguf

    rng = np.random.default_rng(seed)
    tokens, scores, types = vocabulary()
    n_vocab = len(tokens)
    head_dim = N_EMBD // N_HEAD

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYERS)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(EOS_ID)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    def random(*shape: int, scale: float) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    # numpy shapes are the reverse of ggml's: token_embd is ggml {n_embd, n_vocab}.
    embeddings = random(n_vocab, N_EMBD, scale=0.1)
    embeddings[:, 0] = 1.0
    output = random(n_vocab, N_EMBD, scale=0.5)
    printable = np.array([kind == gguf.TokenType.NORMAL for kind in types])
    output[:, 0] = np.where(printable, 4.0, -4.0)
    output[~printable, 1:] = 0.0

    writer.add_tensor("token_embd.weight", embeddings)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", output)
    for layer in range(N_LAYERS):
        prefix = f"blk.{layer}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{prefix}.attn_q.weight", random(N_EMBD, N_EMBD, scale=0.1))
        writer.add_tensor(f"{prefix}.attn_k.weight", random(N_EMBD, N_EMBD, scale=0.1))
        writer.add_tensor(f"{prefix}.attn_v.weight", random(N_EMBD, N_EMBD, scale=0.1))
        # Small output projections keep the residual stream (and its dimension 0) intact.
        writer.add_tensor(f"{prefix}.attn_output.weight", random(N_EMBD, N_EMBD, scale=0.01))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", random(N_FF, N_EMBD, scale=0.1))
        writer.add_tensor(f"{prefix}.ffn_up.weight", random(N_FF, N_EMBD, scale=0.1))
        writer.add_tensor(f"{prefix}.ffn_down.weight", random(N_EMBD, N_FF, scale=0.01))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path

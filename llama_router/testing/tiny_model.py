"""A tiny Llama-architecture GGUF model with random weights.

It produces noise, but it is a real model: llama.cpp (and llama-cpp-python) load it,
tokenise with its byte-level vocabulary, apply its Llama 3 chat template, sample, stream and
enforce its context limit, in well under a second, from a file of about 0.5 MB. Tests and
``llama-router demo`` use it so that the local half of the product runs against a real
engine on any machine, with no download.

Needs the ``gguf`` and ``numpy`` packages (the ``local`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llama_router.exceptions import MissingDependencyError

__all__ = ["LLAMA3_CHAT_TEMPLATE", "TinyModelSpec", "write_tiny_llama"]

#: The Llama 3 instruct chat template (the Jinja text llama.cpp reads from the GGUF).
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' "
    "+ message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)

# <unk>, <s>, </s>, then the 256 byte tokens <0x00> ... <0xFF>: 259 tokens.
_SPECIAL = ("<unk>", "<s>", "</s>")


@dataclass(frozen=True, slots=True)
class TinyModelSpec:
    """Shape of the generated model (the defaults give a ~0.5 MB file)."""

    n_layers: int = 2
    n_embd: int = 64
    n_heads: int = 4
    n_kv_heads: int = 2
    n_ff: int = 128
    n_ctx: int = 8192
    """The training context written to the file (servers may use less)."""
    seed: int = 0


def write_tiny_llama(path: str | Path, spec: TinyModelSpec | None = None) -> Path:
    """Write the tiny model to ``path`` (a ``.gguf`` file) and return the path."""
    try:
        import gguf
        import numpy as np
    except ImportError as exc:
        raise MissingDependencyError(
            'writing the tiny test model needs gguf and numpy: pip install "llama-router[local]"'
        ) from exc
    spec = spec or TinyModelSpec()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    n_vocab = len(_SPECIAL) + 256
    head_dim = spec.n_embd // spec.n_heads
    n_embd_kv = head_dim * spec.n_kv_heads

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("llama-router tiny test model (random weights: output is noise)")
    writer.add_context_length(spec.n_ctx)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layers)
    writer.add_feed_forward_length(spec.n_ff)
    writer.add_head_count(spec.n_heads)
    writer.add_head_count_kv(spec.n_kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("llama")
    writer.add_token_list([*_SPECIAL, *(f"<0x{b:02X}>" for b in range(256))])
    writer.add_token_scores([0.0] * n_vocab)
    writer.add_token_types(
        [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
        + [gguf.TokenType.BYTE] * 256
    )
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(False)  # the chat template writes the BOS itself
    writer.add_chat_template(LLAMA3_CHAT_TEMPLATE)

    def weights(*shape: int, scale: float = 0.08) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    ones = np.ones(spec.n_embd, dtype=np.float32)
    writer.add_tensor("token_embd.weight", weights(n_vocab, spec.n_embd, scale=0.5))
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", weights(n_vocab, spec.n_embd, scale=0.5))
    for i in range(spec.n_layers):
        blk = f"blk.{i}"
        writer.add_tensor(f"{blk}.attn_norm.weight", ones)
        writer.add_tensor(f"{blk}.attn_q.weight", weights(spec.n_embd, spec.n_embd))
        writer.add_tensor(f"{blk}.attn_k.weight", weights(n_embd_kv, spec.n_embd))
        writer.add_tensor(f"{blk}.attn_v.weight", weights(n_embd_kv, spec.n_embd))
        writer.add_tensor(f"{blk}.attn_output.weight", weights(spec.n_embd, spec.n_embd))
        writer.add_tensor(f"{blk}.ffn_norm.weight", ones)
        writer.add_tensor(f"{blk}.ffn_gate.weight", weights(spec.n_ff, spec.n_embd))
        writer.add_tensor(f"{blk}.ffn_up.weight", weights(spec.n_ff, spec.n_embd))
        writer.add_tensor(f"{blk}.ffn_down.weight", weights(spec.n_embd, spec.n_ff))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path

"""Tools for testing routing setups offline: a tiny Llama GGUF model generator, a real
llama.cpp server (:mod:`.servers`) and the provider emulator with fault injection
(:mod:`.emulator`, imported from there)."""

from llama_router.testing.tiny_model import TinyModelSpec, write_tiny_llama

__all__ = ["TinyModelSpec", "write_tiny_llama"]

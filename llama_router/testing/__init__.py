"""Tools for testing routing setups offline: a tiny Llama GGUF model generator.

(The provider emulator with fault injection will live here too.)
"""

from llama_router.testing.tiny_model import TinyModelSpec, write_tiny_llama

__all__ = ["TinyModelSpec", "write_tiny_llama"]

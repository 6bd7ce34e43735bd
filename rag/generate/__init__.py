"""Generate: the reader model behind one small interface (`Generator`: stream a reply, say how likely it starts
with a word). Backends: llama.cpp in-process for GGUF files, Hugging Face transformers, an OpenAI-compatible model
server; `make_generator` picks one from the settings, and `ScriptedGenerator` replays fixed replies in tests."""

from rag.exports import lazy_exports

_PUBLIC = {
    "Generator": "base", "Messages": "base", "make_generator": "base", "ScriptedGenerator": "base",
    "word_probs": "base", "LlamaCppGenerator": "llama_backend", "TransformersGenerator": "transformers_backend",
    "OpenAIChatGenerator": "openai_backend",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)

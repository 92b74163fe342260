"""Writes a GGUF model as a float32 Hugging Face folder (safetensors, config, tokenizer), as
transformers dequantizes it: the float32 base that benchmarks compare against the quantized one.
    $PY scripts/dequantize_gguf.py models/SmolLM2-135M-Instruct.Q4_1.gguf models/SmolLM2-135M-Instruct-f32
"""
import os, sys
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

src, out = sys.argv[1], sys.argv[2]
d, f = os.path.split(os.path.abspath(src))
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
tokenizer = AutoTokenizer.from_pretrained(d, gguf_file=f)
# transformers will not save_pretrained a model loaded from GGUF: write the tensors and config directly.
tensors = {name: t.detach().contiguous() for name, t in model.state_dict().items()}
if model.config.tie_word_embeddings:
    tensors.pop("lm_head.weight", None)
os.makedirs(out, exist_ok=True)
save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
model.config.save_pretrained(out)
tokenizer.save_pretrained(out)
print(out)

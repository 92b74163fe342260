"""PyTorch + PEFT reference for `modules_to_save` on the tiny Llama (../shared/fixtures/tiny-llama).

  grads MODEL OUT         one loss + backward of a LoRA model with modules_to_save; writes the
                          loss, LoRA gradients and the saved modules' gradients (lm_head and
                          embed_tokens as chosen rows plus the whole gradient's norm: the full
                          matrices are 12 MB each). The test rebuilds the same adapter from the
                          LoRA weights stored here (saved modules start as copies of the base).
  make MODEL ADAPTER LOGITS   a PEFT adapter with modules_to_save whose weights all differ from the
                          base, saved with save_pretrained, and its logits on fixed ids.
  logits MODEL ADAPTER LOGITS   loads ADAPTER with PeftModel.from_pretrained and writes its logits.
"""

import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

IDS = [1, 504, 3458, 28, 5248, 30, 1392, 1033, 11, 2, 42, 906, 8371, 3, 77, 15012, 29, 4041, 288, 6]


def base(path):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def grads(model_path, out):
    model = base(model_path)
    torch.manual_seed(1)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False,
        modules_to_save=["lm_head", "embed_tokens", "down_proj"], task_type="CAUSAL_LM")
    peft = get_peft_model(model, config)
    ids = torch.tensor([IDS])
    tensors = {"input_ids": ids[0].to(torch.int32)}
    # Two label patterns: a masked prompt (scored rows in one run) and scattered masks (gathered rows).
    patterns = {
        "prefix": [-100] * 6 + IDS[6:],
        "scattered": [x if i % 3 else -100 for i, x in enumerate(IDS)],
    }
    for name, labels in patterns.items():
        peft.zero_grad()
        loss = peft(input_ids=ids, labels=torch.tensor([labels])).loss
        loss.backward()
        tensors[f"{name}.labels"] = torch.tensor(labels, dtype=torch.int32)
        tensors[f"{name}.loss"] = loss.detach().reshape(1)
        rows = torch.tensor(sorted(set(IDS) | set(range(0, 49152, 997))))
        for key, p in peft.named_parameters():
            if p.grad is None:
                continue
            g = p.grad.detach()
            key = key.replace(".modules_to_save.default", "").replace(".default", "")
            if g.shape[0] == 49152:
                tensors[f"{name}.{key}.grad.rows"] = g[rows].contiguous()
                tensors[f"{name}.{key}.grad.norm"] = g.double().norm().float().reshape(1)
                tensors["rows"] = rows.to(torch.int32)
            else:
                tensors[f"{name}.{key}.grad"] = g.contiguous()
    for key, p in peft.named_parameters():
        if "lora_" in key:
            tensors[key.replace(".default", "")] = p.detach().contiguous()
    trainable = sum(p.numel() for p in peft.parameters() if p.requires_grad)
    total = sum(p.numel() for p in peft.parameters())
    tensors["parameter_counts"] = torch.tensor([trainable, total], dtype=torch.int32)
    save_file(tensors, out)
    print(f"{out}: {len(tensors)} tensors; trainable {trainable} of {total} parameters")


def logits(model, out):
    with torch.no_grad():
        value = model(input_ids=torch.tensor([IDS])).logits[0].contiguous()
    save_file({"input_ids": torch.tensor(IDS, dtype=torch.int32), "logits": value}, out)


def make(model_path, adapter, out):
    model = base(model_path)
    torch.manual_seed(2)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
        modules_to_save=["lm_head", "embed_tokens", "down_proj"], task_type="CAUSAL_LM")
    peft = get_peft_model(model, config)
    with torch.no_grad():
        for key, p in peft.named_parameters():
            if "modules_to_save" in key:
                p.add_(0.02 * torch.randn_like(p))
    peft.save_pretrained(adapter)
    logits(peft.eval(), out)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "grads":
        grads(sys.argv[2], sys.argv[3])
    elif command == "make":
        make(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "logits":
        logits(PeftModel.from_pretrained(base(sys.argv[2]), sys.argv[3]).eval(), sys.argv[4])
    else:
        sys.exit(__doc__)

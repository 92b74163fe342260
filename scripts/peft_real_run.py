"""The PyTorch + PEFT side of the real run: the same token ids, labels and batch order as a
`lora train --record-batches` run, the same LoRA and optimizer settings, and the held-out loss
measured at the same steps. Prints one JSON line per evaluation and one summary line.

    PY=$(../shared/bench/setup-python-peers.sh)
    $PY scripts/peft_real_run.py --gguf models/SmolLM2-135M-Instruct.Q4_1.gguf --run /tmp/real/run \
        --rank 8 --alpha 16 --dropout 0.05 --targets all-linear --learning-rate 1e-3 \
        --warmup-steps 5 --lr-scheduler cosine --max-grad-norm 1.0 --eval-steps 20

`--run` is the `--out` folder of the SwiftLoRA run: its batches.jsonl (one line per optimizer step,
the rows of that step as ids and labels) and eval-examples.jsonl (the held-out rows) are read.
Loss is the mean over every labelled token of a step (labels shifted by one, -100 ignored), as
SwiftLoRA and transformers' causal-LM loss compute it. The base is the GGUF dequantized to float32.
"""
import argparse, json, math, os, time
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, get_scheduler
from peft import LoraConfig, get_peft_model

ap = argparse.ArgumentParser()
ap.add_argument("--gguf", required=True)
ap.add_argument("--run", required=True, help="the SwiftLoRA run folder (batches.jsonl, eval-examples.jsonl)")
ap.add_argument("--rank", type=int, default=8)
ap.add_argument("--alpha", type=float, default=16)
ap.add_argument("--dropout", type=float, default=0.05)
ap.add_argument("--targets", default="all-linear")
ap.add_argument("--learning-rate", type=float, default=2e-4)
ap.add_argument("--weight-decay", type=float, default=0.0)
ap.add_argument("--warmup-steps", type=int, default=0)
ap.add_argument("--lr-scheduler", default="linear")
ap.add_argument("--max-grad-norm", type=float, default=1.0)
ap.add_argument("--eval-steps", type=int, default=0)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=42)
a = ap.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
steps = [json.loads(line) for line in open(os.path.join(a.run, "batches.jsonl"))]
held_out = [json.loads(line) for line in open(os.path.join(a.run, "eval-examples.jsonl"))]

d, f = os.path.split(os.path.abspath(a.gguf))
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
model.config.use_cache = False
targets = a.targets if a.targets == "all-linear" else a.targets.split(",")
model = get_peft_model(model, LoraConfig(r=a.rank, lora_alpha=a.alpha, lora_dropout=a.dropout,
                                         target_modules=targets, task_type="CAUSAL_LM"))
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=a.learning_rate, weight_decay=a.weight_decay)
sched = get_scheduler(a.lr_scheduler, opt, num_warmup_steps=a.warmup_steps, num_training_steps=len(steps))


def summed_loss(row):
    """Sum of next-token losses over the row's labelled tokens, and their count."""
    ids = torch.tensor([row["ids"]])
    labels = torch.tensor(row["labels"][1:])
    logits = model(input_ids=ids).logits[0, :-1]
    keep = labels != -100
    if keep.sum() == 0:
        return logits.sum() * 0, 0
    return F.cross_entropy(logits[keep], labels[keep], reduction="sum"), int(keep.sum())


def evaluate():
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in held_out:
            s, n = summed_loss(row)
            total += s.item(); count += n
    model.train()
    return total / count


model.train()
start = time.perf_counter()
tokens = 0
log = []
for i, step in enumerate(steps, 1):
    opt.zero_grad(set_to_none=True)
    labelled = sum(sum(1 for v in r["labels"][1:] if v != -100) for r in step["rows"])
    loss_value = 0.0
    for row in step["rows"]:
        s, n = summed_loss(row)
        (s / labelled).backward()
        loss_value += s.item() / labelled
        tokens += len(row["ids"])
    if a.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm)
    opt.step()
    sched.step()
    entry = {"step": i, "loss": round(loss_value, 4)}
    if (a.eval_steps and i % a.eval_steps == 0) or i == len(steps):
        entry["eval_loss"] = round(evaluate(), 4)
        print(json.dumps({"impl": "pytorch+peft", **entry}), flush=True)
    log.append(entry)
elapsed = time.perf_counter() - start
print(json.dumps({"impl": "pytorch+peft", "steps": len(steps), "final_eval_loss": log[-1]["eval_loss"],
                  "train_loss_first": log[0]["loss"], "train_loss_last": log[-1]["loss"],
                  "tokens_per_s": round(tokens / elapsed, 1), "elapsed_s": round(elapsed, 1)}))

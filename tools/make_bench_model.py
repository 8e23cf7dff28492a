#!/usr/bin/env python3
"""Generate a realistic-shape Qwen3-MoE checkpoint with random weights for CPU benchmarks.

The per-layer shapes are those of Qwen3-30B-A3B (hidden 2048, 32 query heads / 4 KV heads of
dim 128, expert intermediate 768, top-8 routing); the model is scaled down in depth, expert
count and vocabulary so that it is ~2.8 GB in bf16 and fits a small machine next to a
llama.cpp GGUF of the same checkpoint. Weights are random (std 0.02, norms 1.0): the numbers
are meaningless, the bytes streamed per token are the real thing.

Written in the published hub layout (one tensor per expert, sharded safetensors + index,
config.json, tokenizer files copied from the qwen3moe test fixture), so Switchyard's loader,
transformers and llama.cpp's convert_hf_to_gguf.py all read it. Nothing here is committed:
write it under a git-ignored directory such as /work/bench-models.

    python3 tools/make_bench_model.py --out /work/bench-models/qwen3moe-bench-bf16
"""

import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER_FIXTURE = os.path.join(REPO_ROOT, "tests", "data", "models", "qwen3moe-bf16")

# Qwen3-30B-A3B per-layer shapes; depth, expert count and vocab scaled down.
SHAPE = dict(
    hidden_size=2048,
    num_attention_heads=32,
    num_key_value_heads=4,
    head_dim=128,
    moe_intermediate_size=768,
    intermediate_size=6144,
    num_experts=64,
    num_experts_per_tok=8,
    num_hidden_layers=4,
    vocab_size=32000,
)
SHARD_BYTES = 1 << 30


def config_json(dtype: str) -> dict:
    s = SHAPE
    return {
        "architectures": ["Qwen3MoeForCausalLM"],
        "model_type": "qwen3_moe",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": None,
        "eos_token_id": [319, 317],
        "pad_token_id": 317,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
        "dtype": dtype,
        "head_dim": s["head_dim"],
        "hidden_act": "silu",
        "hidden_size": s["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": s["intermediate_size"],
        "max_position_embeddings": 4096,
        "moe_intermediate_size": s["moe_intermediate_size"],
        "norm_topk_prob": True,
        "num_attention_heads": s["num_attention_heads"],
        "num_experts": s["num_experts"],
        "num_experts_per_tok": s["num_experts_per_tok"],
        "num_hidden_layers": s["num_hidden_layers"],
        "num_key_value_heads": s["num_key_value_heads"],
        "output_router_logits": False,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "rope_scaling": None,
        "router_aux_loss_coef": 0.001,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": s["vocab_size"],
    }


def tensor_shapes():
    """(name, shape) of every tensor, in file order. Linear weights are [out, in]."""
    s = SHAPE
    d, hd, h, kv = s["hidden_size"], s["head_dim"], s["num_attention_heads"], s["num_key_value_heads"]
    inter = s["moe_intermediate_size"]
    yield "model.embed_tokens.weight", (s["vocab_size"], d)
    for layer in range(s["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        yield p + "input_layernorm.weight", (d,)
        yield p + "post_attention_layernorm.weight", (d,)
        yield p + "self_attn.q_proj.weight", (h * hd, d)
        yield p + "self_attn.k_proj.weight", (kv * hd, d)
        yield p + "self_attn.v_proj.weight", (kv * hd, d)
        yield p + "self_attn.o_proj.weight", (d, h * hd)
        yield p + "self_attn.q_norm.weight", (hd,)
        yield p + "self_attn.k_norm.weight", (hd,)
        yield p + "mlp.gate.weight", (s["num_experts"], d)
        for e in range(s["num_experts"]):
            q = f"{p}mlp.experts.{e}."
            yield q + "gate_proj.weight", (inter, d)
            yield q + "up_proj.weight", (inter, d)
            yield q + "down_proj.weight", (d, inter)
    yield "model.norm.weight", (d,)
    yield "lm_head.weight", (s["vocab_size"], d)


def make_tensor(name, shape, dtype, gen):
    if len(shape) == 1:  # norm weights
        return torch.ones(shape, dtype=dtype)
    return (torch.randn(shape, generator=gen, dtype=torch.float32) * 0.02).to(dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (outside the repository)")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)

    shapes = list(tensor_shapes())
    elem = torch.empty((), dtype=dtype).element_size()
    shards, cur, cur_bytes = [], [], 0
    for name, shape in shapes:
        nbytes = elem
        for n in shape:
            nbytes *= n
        if cur and cur_bytes + nbytes > SHARD_BYTES:
            shards.append(cur)
            cur, cur_bytes = [], 0
        cur.append((name, shape))
        cur_bytes += nbytes
    shards.append(cur)

    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {name: make_tensor(name, shape, dtype, gen) for name, shape in shard}
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        save_file(tensors, os.path.join(args.out, fname), metadata={"format": "pt"})
        weight_map.update({name: fname for name in tensors})
        print(f"wrote {fname}: {len(tensors)} tensors", flush=True)
        del tensors

    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config_json(args.dtype), f, indent=2)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": [319, 317], "pad_token_id": 317, "do_sample": False}, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKENIZER_FIXTURE, name), os.path.join(args.out, name))
    print(f"{args.out}: {total / 1e9:.2f} GB of {args.dtype} weights")


if __name__ == "__main__":
    main()

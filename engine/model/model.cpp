#include "engine/model/model.h"

#include <stdexcept>

#include "engine/io/safetensors.h"
#include "engine/model/rope_table.h"

namespace sy {

std::shared_ptr<Model> load_model(const std::filesystem::path& dir, Backend& backend, const ExpertSelector& experts,
                                  const MemoryPlanOptions& plan_options, WeightFormat weight_format) {
  check_weight_format(weight_format, backend);
  auto m = std::make_shared<Model>();
  m->dir = dir;
  m->backend = &backend;
  m->config = ModelConfig::from_model_dir(dir);
  Checkpoint ckpt = Checkpoint::open(dir);
  // The activation dtype follows the checkpoint: config's dtype when given, else the embedding's.
  if (!m->config.dtype_given)
    if (const TensorInfo* embed = ckpt.find("model.embed_tokens.weight")) m->config.dtype = embed->dtype;
  // Plan before a byte is copied. (An expert-parallel shard holds only its share of the
  // experts, which the whole-model plan would overcount: shards are not planned here.)
  if (!backend.host_accessible() && !experts) {
    const TensorInfo* embed = ckpt.find("model.embed_tokens.weight");
    const DType weight_dtype = embed ? embed->dtype : m->config.dtype;
    m->memory_plan = plan_memory(memory_plan_model(m->config, weight_dtype, plan_options, weight_format),
                                 backend.free_memory(), plan_options.kv_share);
  }
  m->weights = load_weights(m->config, ckpt, backend, experts, weight_format);
  m->stats = weight_stats(m->config, ckpt);
  RopeTable rope = make_rope_table(m->config);
  m->rope_attention_factor = rope.attention_factor;
  m->rope_inv_freq = DeviceBuffer(&backend, rope.inv_freq.size() * sizeof(float));
  backend.copy_from_host(m->rope_inv_freq.get(), rope.inv_freq.data(), rope.inv_freq.size() * sizeof(float));
  return m;
}

}  // namespace sy

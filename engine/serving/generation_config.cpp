#include "engine/serving/generation_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace sy {
namespace {

void collect(const std::filesystem::path& file, std::vector<int32_t>& out) {
  std::ifstream in(file);
  if (!in) return;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw std::runtime_error(file.string() + ": invalid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("eos_token_id")) return;
  const auto& v = j["eos_token_id"];
  if (v.is_number_integer()) out.push_back(v.get<int32_t>());
  else if (v.is_array())
    for (const auto& e : v)
      if (e.is_number_integer()) out.push_back(e.get<int32_t>());
}

}  // namespace

std::vector<int32_t> load_eos_token_ids(const std::string& model_dir) {
  std::vector<int32_t> ids;
  collect(std::filesystem::path(model_dir) / "config.json", ids);
  collect(std::filesystem::path(model_dir) / "generation_config.json", ids);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace sy

// EOS token ids of a model directory: the union of config.json's and generation_config.json's
// eos_token_id (each an int or a list). Position: model dir -> [this] -> engine stop checks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sy {

// Missing files or keys contribute nothing; a malformed JSON file throws naming the file.
std::vector<int32_t> load_eos_token_ids(const std::string& model_dir);

}  // namespace sy

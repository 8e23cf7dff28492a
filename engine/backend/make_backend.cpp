// The --device spelling shared by switchyard-server, switchyard-cli and the benchmarks.
#include <stdexcept>
#include <string>

#include "engine/backend/backend.h"

namespace sy {

std::unique_ptr<Backend> make_backend(const std::string& device) {
  if (device == "cpu") return make_cpu_backend();
  if (device == "cuda") return make_cuda_backend(0);
  if (device.rfind("cuda:", 0) == 0 && device.size() > 5 &&
      device.find_first_not_of("0123456789", 5) == std::string::npos)
    return make_cuda_backend(std::stoi(device.substr(5)));
  throw std::invalid_argument("--device must be cpu, cuda or cuda:N, got '" + device + "'");
}

}  // namespace sy

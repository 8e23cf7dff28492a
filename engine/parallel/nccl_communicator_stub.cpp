// CPU-only builds: the NCCL communicator does not exist (engine/parallel/nccl_communicator.h).
#include <stdexcept>

#include "engine/parallel/nccl_communicator.h"

namespace sy {

std::unique_ptr<Communicator> make_nccl_communicator(Communicator&, int, void*) {
  throw std::runtime_error("NCCL communicator: switchyard was not compiled with CUDA support");
}

}  // namespace sy

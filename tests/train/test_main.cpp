#define BOOST_TEST_MODULE biaslab_train
#include <boost/test/unit_test.hpp>

#include <torch/torch.h>

// Bit-identical results need a fixed thread count (reductions split differently otherwise).
struct SingleThread {
  SingleThread() { torch::set_num_threads(1); }
};
BOOST_TEST_GLOBAL_FIXTURE(SingleThread);

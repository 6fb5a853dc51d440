// test.scale after a "bug fix": same name and version as test_scale.cpp, different code, so a
// different code hash (tests/engine/test_cache_keys.cpp: cached results follow the code).
#define BIASLAB_TEST_SCALE_OFFSET 0.5
#include "test_scale.cpp"

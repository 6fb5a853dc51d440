// A shared library without a biaslab entry point.
extern "C" int some_function() { return 42; }

// Plugin loading: descriptors, ABI check, broken libraries, lifetime.
#include <boost/test/unit_test.hpp>

#include "engine_fixture.hpp"

using namespace biaslab;
using namespace biaslab::testing;

BOOST_AUTO_TEST_SUITE(plugins)

BOOST_AUTO_TEST_CASE(loads_descriptor_and_schema) {
  const auto* p = test_plugins().find("test.scale");
  BOOST_REQUIRE(p);
  BOOST_TEST(p->descriptor->abi_version == kPluginAbiVersion);
  BOOST_TEST(std::string(p->descriptor->version) == "1.0.0");
  BOOST_TEST(p->descriptor->kind == PluginKind::transform);
  BOOST_TEST(p->primary_port() == "model");
  BOOST_TEST(p->params_schema["properties"]["factor"]["default"] == 2.0);
  BOOST_TEST(p->unsupported_reason.empty());
  BOOST_TEST(test_plugins().names() == (std::vector<std::string>{"test.corpus", "test.metric", "test.scale", "test.source"}));
}

BOOST_AUTO_TEST_CASE(refuses_abi_mismatch_naming_plugin_and_versions) {
  PluginRegistry reg;
  auto file = env_path("BIASLAB_BINARY_DIR") / "test-plugins-bad" / "test_abi_mismatch.so";
  try {
    reg.load(file);
    BOOST_FAIL("ABI mismatch accepted");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()) == file.string() + ": plugin ABI version " + std::to_string(kPluginAbiVersion + 41) +
                                            " does not match this biaslab's plugin ABI version " +
                                            std::to_string(kPluginAbiVersion) + "; rebuild the plugin against this biaslab");
  }
  BOOST_TEST(reg.find("test.abi_mismatch") == nullptr);
}

BOOST_AUTO_TEST_CASE(refuses_library_without_entry_point) {
  PluginRegistry reg;
  auto file = env_path("BIASLAB_BINARY_DIR") / "test-plugins-bad" / "test_not_a_plugin.so";
  BOOST_CHECK_EXCEPTION(reg.load(file), std::runtime_error, [&](const std::runtime_error& e) {
    return std::string(e.what()) == file.string() + ": not a biaslab plugin (no 'biaslab_plugin' entry point; use BIASLAB_PLUGIN(descriptor))";
  });
}

BOOST_AUTO_TEST_CASE(discovery_records_broken_plugins_and_keeps_going) {
  setenv("BIASLAB_PLUGIN_PATH", (env_path("BIASLAB_BINARY_DIR") / "test-plugins-bad").c_str(), 1);
  PluginRegistry reg;
  reg.discover({env_path("BIASLAB_TEST_PLUGIN_DIR")});
  unsetenv("BIASLAB_PLUGIN_PATH");
  BOOST_TEST(reg.find("test.metric") != nullptr);
  BOOST_REQUIRE(reg.load_errors().size() == 4u);
  const auto garbage = env_path("BIASLAB_BINARY_DIR") / "test-plugins-bad" / "test_garbage.so";
  bool garbage_named = false;
  for (const auto& e : reg.load_errors())
    if (e.message.rfind(garbage.string() + ": cannot load plugin: ", 0) == 0) garbage_named = true;
  BOOST_TEST(garbage_named);
  // An exception thrown inside the library while it loads does not know the file: the registry adds it.
  const auto bad = env_path("BIASLAB_BINARY_DIR") / "test-plugins-bad" / "test_throws_on_load.so";
  bool found = false;
  for (const auto& e : reg.load_errors())
    if (e.message == "cannot load plugin " + bad.string() + ": params_schema: property 'x' has no 'type'") found = true;
  BOOST_TEST(found);
}

BOOST_AUTO_TEST_CASE(operator_keeps_its_library_alive) {
  std::shared_ptr<Operator> op;
  {
    PluginRegistry reg;
    const auto& p = reg.load(env_path("BIASLAB_TEST_PLUGIN_DIR") / "test_source.so");
    op = p.create();
  }  // registry gone; the operator's deleter still holds the library
  BOOST_TEST(op.use_count() == 1);
  op.reset();  // runs the plugin's destructor: would crash if the code were unmapped
}

BOOST_AUTO_TEST_SUITE_END()

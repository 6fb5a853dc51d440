# biaslab_add_plugin(<target> SOURCES <src>... [RUNTIME] [EVAL] [LIBS <lib>...] [OUTPUT_DIR <dir>])
#
# Builds a biaslab plugin: a MODULE library with hidden visibility that exports exactly one
# descriptor (BIASLAB_PLUGIN in <biaslab/plugin.hpp>). Works in-tree and, after
# find_package(biaslab), out of tree. RUNTIME links the libtorch model runtime (models,
# tokenizers, scoring); EVAL links the torch-free metric library.
function(biaslab_add_plugin target)
  cmake_parse_arguments(ARG "RUNTIME;EVAL;NO_INSTALL" "OUTPUT_DIR" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "biaslab_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_compile_features(${target} PRIVATE cxx_std_20)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    DEFINE_SYMBOL "")
  target_link_libraries(${target} PRIVATE biaslab::core ${CMAKE_DL_LIBS} ${ARG_LIBS})
  if(ARG_EVAL)
    target_link_libraries(${target} PRIVATE biaslab::eval)
  endif()
  if(ARG_RUNTIME)
    target_link_libraries(${target} PRIVATE biaslab::runtime)
    if(COMMAND biaslab_use_torch_pch)
      biaslab_use_torch_pch(${target})
    endif()
  endif()
  if(ARG_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR})
  elseif(DEFINED BIASLAB_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${BIASLAB_PLUGIN_OUTPUT_DIR})
  endif()
  if(DEFINED BIASLAB_PLUGIN_INSTALL_DIR AND NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${BIASLAB_PLUGIN_INSTALL_DIR})
  endif()
endfunction()

# biaslab_add_plugin(<target> SOURCES <src>... [RUNTIME] [EVAL] [LIBS <lib>...] [OUTPUT_DIR <dir>])
#
# Builds a biaslab plugin: a MODULE library with hidden visibility that exports exactly one
# descriptor (BIASLAB_PLUGIN in <biaslab/plugin.hpp>). Works in-tree and, after
# find_package(biaslab), out of tree. RUNTIME links the libtorch model runtime (models,
# tokenizers, scoring); EVAL links the torch-free metric library.
#
# Every plugin gets a code hash (cmake/BiaslabCodeHash.cmake), part of the cache key of each node it
# runs: its SOURCES, the headers next to them, the sources of the in-tree libraries it links (e.g.
# plugins/metric_support) and the code hashes of the biaslab libraries it links (runtime, eval;
# biaslab_code_component()). biaslab::core (the engine) is deliberately not part of it.
set(BIASLAB_CODE_HASH_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/BiaslabCodeHash.cmake)

# biaslab_code_component(<target> DIRS <dir>... [INSTALL_DESTINATION <dir>])
# Declares which source folders make up a library's code for plugin code hashes. The hash is
# computed at build time into <binary dir>/code-hash/<target>.sha256 (installed next to the CMake
# package, so out-of-tree plugins fold in the hash of the installed library).
function(biaslab_code_component target)
  cmake_parse_arguments(ARG "" "INSTALL_DESTINATION" "DIRS" ${ARGN})
  set(dirs)
  foreach(d ${ARG_DIRS})
    get_filename_component(d ${d} ABSOLUTE)
    list(APPEND dirs ${d})
  endforeach()
  set(out ${PROJECT_BINARY_DIR}/code-hash/${target}.sha256)
  set(spec ${PROJECT_BINARY_DIR}/code-hash/${target}.spec.cmake)
  file(CONFIGURE OUTPUT ${spec} CONTENT "set(MODE component)\nset(ROOT [[${PROJECT_SOURCE_DIR}]])\nset(DIRS [[${dirs}]])\nset(OUTPUT [[${out}]])\nset(MANIFEST [[${out}.manifest]])\n" @ONLY)
  add_custom_target(${target}_code_hash
    COMMAND ${CMAKE_COMMAND} -DSPEC=${spec} -P ${BIASLAB_CODE_HASH_SCRIPT}
    BYPRODUCTS ${out} VERBATIM)
  set_property(TARGET ${target} PROPERTY BIASLAB_CODE_HASH_FILE ${out})
  if(ARG_INSTALL_DESTINATION)
    install(FILES ${out} DESTINATION ${ARG_INSTALL_DESTINATION})
  endif()
endfunction()

# Deferred to the end of configuration (all linked targets exist then): the folders and component
# hashes a plugin's code hash covers, following its link libraries through in-tree targets.
function(_biaslab_plugin_code_spec target spec root own_files header_dir)
  set(dirs)
  set(hash_files)
  set(deps)
  get_target_property(queue ${target} LINK_LIBRARIES)
  set(seen)
  while(queue)
    list(POP_FRONT queue lib)
    if(NOT TARGET "${lib}")
      continue()
    endif()
    get_target_property(aliased ${lib} ALIASED_TARGET)
    if(aliased)
      set(lib ${aliased})
    endif()
    if(lib IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${lib})
    get_property(declared TARGET ${lib} PROPERTY BIASLAB_CODE_HASH_FILE SET)
    if(declared)  # a biaslab library: its hash (IGNORE for biaslab::core, which is not hashed)
      get_target_property(hash_file ${lib} BIASLAB_CODE_HASH_FILE)
      if(hash_file)
        get_filename_component(component ${hash_file} NAME_WE)
        list(APPEND hash_files "${component}=${hash_file}")
        if(TARGET ${lib}_code_hash)
          list(APPEND deps ${lib}_code_hash)
        endif()
      endif()
      continue()
    endif()
    get_target_property(imported ${lib} IMPORTED)
    if(imported)  # third-party libraries are not hashed (docs/pipelines.md)
      continue()
    endif()
    get_target_property(dir ${lib} SOURCE_DIR)
    list(APPEND dirs ${dir})
    foreach(prop LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
      get_target_property(more ${lib} ${prop})
      if(more)
        list(APPEND queue ${more})
      endif()
    endforeach()
  endwhile()
  file(CONFIGURE OUTPUT ${spec}.cmake CONTENT "set(MODE plugin)\nset(ROOT [[${root}]])\nset(FILES [[${own_files}]])\nset(HEADER_DIRS [[${header_dir}]])\nset(DIRS [[${dirs}]])\nset(HASH_FILES [[${hash_files}]])\nset(OUTPUT [[${spec}.cpp]])\nset(MANIFEST [[${spec}.manifest]])\n" @ONLY)
  if(deps)
    add_dependencies(${target}_code_hash ${deps})
  endif()
endfunction()

function(biaslab_add_plugin target)
  cmake_parse_arguments(ARG "RUNTIME;EVAL;NO_INSTALL" "OUTPUT_DIR" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "biaslab_add_plugin(${target}): SOURCES is required")
  endif()
  set(spec ${CMAKE_CURRENT_BINARY_DIR}/${target}.code)
  add_library(${target} MODULE ${ARG_SOURCES} ${spec}.cpp)
  add_custom_target(${target}_code_hash
    COMMAND ${CMAKE_COMMAND} -DSPEC=${spec}.cmake -P ${BIASLAB_CODE_HASH_SCRIPT}
    BYPRODUCTS ${spec}.cpp ${spec}.manifest VERBATIM)
  add_dependencies(${target} ${target}_code_hash)
  set(own_files)
  foreach(s ${ARG_SOURCES})
    get_filename_component(s ${s} ABSOLUTE)
    list(APPEND own_files ${s})
  endforeach()
  cmake_language(EVAL CODE "cmake_language(DEFER DIRECTORY [[${CMAKE_SOURCE_DIR}]] CALL _biaslab_plugin_code_spec [[${target}]] [[${spec}]] [[${CMAKE_SOURCE_DIR}]] [[${own_files}]] [[${CMAKE_CURRENT_SOURCE_DIR}]])")
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

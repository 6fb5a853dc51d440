# One precompiled <torch/torch.h> shared by every target that links the runtime: compiling
# torch/torch.h costs ~20 s per translation unit on the CI machine, the PCH makes it ~2 s.
function(biaslab_use_torch_pch target)
  if(NOT BIASLAB_USE_PCH)
    return()
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    set(pch_target biaslab_pch_torch_exe)
  else()
    set(pch_target biaslab_pch_torch_lib)
  endif()
  if(NOT TARGET ${pch_target})
    # Compiled with the same flags as the targets reusing it (GCC refuses a PCH otherwise).
    # file(CONFIGURE) leaves an unchanged file alone: re-configuring must not rebuild the PCH.
    file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/pch/${pch_target}.cpp CONTENT "// precompiled header host\n")
    add_library(${pch_target} OBJECT ${CMAKE_BINARY_DIR}/pch/${pch_target}.cpp)
    target_link_libraries(${pch_target} PRIVATE torch)
    target_compile_features(${pch_target} PRIVATE cxx_std_20)
    if(type STREQUAL "EXECUTABLE")
      # Executables compile with -fPIE; an object library with PIC would use -fPIC and GCC would
      # silently ignore the PCH ("created and used with different settings of -fpie").
      set_target_properties(${pch_target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
      target_compile_options(${pch_target} PRIVATE -fPIE)
    else()
      set_target_properties(${pch_target} PROPERTIES CXX_VISIBILITY_PRESET hidden
                                                     VISIBILITY_INLINES_HIDDEN ON)
    endif()
    target_precompile_headers(${pch_target} PRIVATE <torch/torch.h>)
  endif()
  target_precompile_headers(${target} REUSE_FROM ${pch_target})
endfunction()

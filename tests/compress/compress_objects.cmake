# Object library with just the compression kernels and algorithms (core/src/runtime/ops,
# core/src/runtime/compress) plus the Linear interface implementation, so tests/compress and
# bench/ build without the rest of the runtime. Included by both; defined once.
if(NOT TARGET biaslab_compress_obj)
  file(GLOB BIASLAB_COMPRESS_SRCS CONFIGURE_DEPENDS
    ${PROJECT_SOURCE_DIR}/core/src/runtime/ops/*.cpp
    ${PROJECT_SOURCE_DIR}/core/src/runtime/compress/*.cpp)
  add_library(biaslab_compress_obj OBJECT ${BIASLAB_COMPRESS_SRCS}
    ${PROJECT_SOURCE_DIR}/core/src/runtime/linear.cpp)
  target_include_directories(biaslab_compress_obj PUBLIC
    ${PROJECT_SOURCE_DIR}/core/include ${PROJECT_SOURCE_DIR}/core/src)
  target_link_libraries(biaslab_compress_obj PUBLIC torch nlohmann_json::nlohmann_json)
  target_compile_features(biaslab_compress_obj PUBLIC cxx_std_20)
  biaslab_use_torch_pch(biaslab_compress_obj)
endif()

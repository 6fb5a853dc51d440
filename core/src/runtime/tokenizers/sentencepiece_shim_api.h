#pragma once
// C interface of libbiaslab_sentencepiece, the shim through which the runtime uses
// libsentencepiece.
//
// Why a shim: Debian's libsentencepiece embeds protobuf-lite 3.14 and exports its symbols, while
// libtorch brings libprotobuf 3.21. Linked into one process the two bind to each other's
// symbols (a crash in static initialisation, or protobuf's version check aborting when a model is
// parsed). The shim is dlopen'ed with RTLD_LOCAL | RTLD_DEEPBIND so sentencepiece resolves against
// its own protobuf and nothing of it becomes visible to the rest of the process. Only C types
// cross this interface; strings are handed out through callbacks.
#include <stddef.h>

extern "C" {

#define BIASLAB_SPM_SHIM_API_VERSION 1

using biaslab_spm_bytes_fn = void (*)(void* context, const char* data, size_t size);
using biaslab_spm_piece_fn = void (*)(void* context, int id, const char* piece, size_t piece_size,
                                      size_t begin, size_t end);

struct biaslab_spm_api {
  int api_version;
  // Returns a handle, or null with *error filled through error_fn.
  void* (*load)(const char* model_file, biaslab_spm_bytes_fn error_fn, void* error_context);
  void (*free)(void* handle);
  // 0 on success; otherwise the message goes to error_fn.
  int (*encode)(void* handle, const char* text, size_t size, biaslab_spm_piece_fn piece_fn, void* context,
                biaslab_spm_bytes_fn error_fn, void* error_context);
  int (*decode)(void* handle, const int* ids, size_t count, biaslab_spm_bytes_fn text_fn, void* context,
                biaslab_spm_bytes_fn error_fn, void* error_context);
  int (*piece_size)(void* handle);
  int (*piece_to_id)(void* handle, const char* piece, size_t size);
  void (*id_to_piece)(void* handle, int id, biaslab_spm_bytes_fn piece_fn, void* context);
  int (*is_control)(void* handle, int id);
  // which: 0 bos, 1 eos, 2 pad, 3 unk; -1 when the model disables it.
  int (*special_id)(void* handle, int which);
};

// The one exported symbol of the shim.
const biaslab_spm_api* biaslab_spm_get_api(void);
}

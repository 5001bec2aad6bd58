// The module's entry point: ctrd.node, loaded by lib/native.ts only.
#include "ctrd.h"

namespace ctrd {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitContainer(env, exports);
  InitFs(env, exports);
  InitMount(env, exports);
  InitProc(env, exports);
  InitSeccomp(env, exports);
  return exports;
}

NODE_API_MODULE(ctrd, Init)

}  // namespace ctrd

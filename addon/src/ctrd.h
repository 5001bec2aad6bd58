// Declarations shared by the addon's files: one Init per group of syscalls, and the errno error that
// every function throws.
#pragma once

#include <napi.h>
#include <sys/un.h>

#include <cstdint>
#include <string>

namespace ctrd {

// Throws a JavaScript Error shaped like Node's own fs errors: message "EPERM: operation not permitted,
// mknod '/x'", and properties code ('EPERM'), errno (negative, as Node's), syscall and path.
void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path);

// Argument checks: each throws a TypeError and returns false when the argument is missing or mistyped.
bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out);
bool UintArg(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t max, uint64_t* out);
bool BufferArg(const Napi::CallbackInfo& info, size_t i, const char* name, Napi::Buffer<uint8_t>* out);

void InitContainer(Napi::Env env, Napi::Object exports);
// Fills a unix socket address with path; throws ENAMETOOLONG (naming syscall) and returns false when path
// does not fit in sun_path.
bool UnixAddress(Napi::Env env, const std::string& path, const char* syscall, struct sockaddr_un* addr);

void InitFs(Napi::Env env, Napi::Object exports);
void InitMount(Napi::Env env, Napi::Object exports);
void InitProc(Napi::Env env, Napi::Object exports);
void InitSeccomp(Napi::Env env, Napi::Object exports);

}  // namespace ctrd

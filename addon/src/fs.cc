// Filesystem calls Node lacks: mknod (devices and fifos, overlay whiteouts) and the l*xattr family, which
// never follows a symlink in the last component (layers carry xattrs of symlinks too).
#include <errno.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

#include <vector>

#include "ctrd.h"

namespace ctrd {
namespace {

Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  uint64_t mode, major, minor;
  if (!StringArg(info, 0, "path", &path) || !UintArg(info, 1, "mode", 0xffffffffu, &mode) ||
      !UintArg(info, 2, "major", 0xfffu, &major) || !UintArg(info, 3, "minor", 0xfffffu, &minor)) {
    return env.Undefined();
  }
  if (mknod(path.c_str(), static_cast<mode_t>(mode), makedev(major, minor)) != 0) {
    ThrowErrno(env, errno, "mknod", path);
  }
  return env.Undefined();
}

Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  Napi::Buffer<uint8_t> value;
  if (!StringArg(info, 0, "path", &path) || !StringArg(info, 1, "name", &name) || !BufferArg(info, 2, "value", &value)) {
    return env.Undefined();
  }
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) != 0) {
    ThrowErrno(env, errno, "lsetxattr", path);
  }
  return env.Undefined();
}

// The value of an attribute, or undefined when the file has no such attribute (ENODATA).
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (!StringArg(info, 0, "path", &path) || !StringArg(info, 1, "name", &name)) return env.Undefined();
  // The size can change between the two calls; ERANGE means: ask again.
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) break;
    std::vector<uint8_t> buf(static_cast<size_t>(size));
    ssize_t got = lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (got >= 0) return Napi::Buffer<uint8_t>::Copy(env, buf.data(), static_cast<size_t>(got));
    if (errno != ERANGE) break;
  }
  if (errno == ENODATA) return env.Undefined();
  ThrowErrno(env, errno, "lgetxattr", path);
  return env.Undefined();
}

Napi::Value Llistxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!StringArg(info, 0, "path", &path)) return env.Undefined();
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t size = llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) break;
    std::vector<char> buf(static_cast<size_t>(size));
    ssize_t got = llistxattr(path.c_str(), buf.data(), buf.size());
    if (got >= 0) {
      Napi::Array names = Napi::Array::New(env);
      uint32_t n = 0;
      for (size_t start = 0; start < static_cast<size_t>(got);) {
        size_t end = start;
        while (end < static_cast<size_t>(got) && buf[end] != '\0') end++;
        if (end > start) names.Set(n++, Napi::String::New(env, buf.data() + start, end - start));
        start = end + 1;
      }
      return names;
    }
    if (errno != ERANGE) break;
  }
  ThrowErrno(env, errno, "llistxattr", path);
  return env.Undefined();
}

Napi::Value Lremovexattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (!StringArg(info, 0, "path", &path) || !StringArg(info, 1, "name", &name)) return env.Undefined();
  if (lremovexattr(path.c_str(), name.c_str()) != 0) ThrowErrno(env, errno, "lremovexattr", path);
  return env.Undefined();
}

}  // namespace

void InitFs(Napi::Env env, Napi::Object exports) {
  exports.Set("mknod", Napi::Function::New(env, Mknod, "mknod"));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr, "lsetxattr"));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr, "lgetxattr"));
  exports.Set("llistxattr", Napi::Function::New(env, Llistxattr, "llistxattr"));
  exports.Set("lremovexattr", Napi::Function::New(env, Lremovexattr, "lremovexattr"));
}

}  // namespace ctrd

// mount(2) and umount2(2), with the flag constants callers combine. Parsing fstab-style options into flags
// and data is TypeScript's job (services/diff/mounts.ts); this file passes them through unchanged.
#include <errno.h>
#include <sys/mount.h>

#include "ctrd.h"

namespace ctrd {
namespace {

// Empty strings become NULL: the kernel ignores the source of a remount or propagation change, the type of a
// bind mount, and wants no data at all rather than "" for most filesystems.
const char* OrNull(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string source, target, fstype, data;
  uint64_t flags;
  if (!StringArg(info, 0, "source", &source) || !StringArg(info, 1, "target", &target) ||
      !StringArg(info, 2, "fstype", &fstype) || !UintArg(info, 3, "flags", 0xffffffffu, &flags) ||
      !StringArg(info, 4, "data", &data)) {
    return env.Undefined();
  }
  if (mount(OrNull(source), target.c_str(), OrNull(fstype), static_cast<unsigned long>(flags), OrNull(data)) != 0) {
    ThrowErrno(env, errno, "mount", target);
  }
  return env.Undefined();
}

Napi::Value Umount2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string target;
  uint64_t flags;
  if (!StringArg(info, 0, "target", &target) || !UintArg(info, 1, "flags", 0xffffffffu, &flags)) {
    return env.Undefined();
  }
  if (umount2(target.c_str(), static_cast<int>(flags)) != 0) ThrowErrno(env, errno, "umount2", target);
  return env.Undefined();
}

}  // namespace

void InitMount(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount, "mount"));
  exports.Set("umount2", Napi::Function::New(env, Umount2, "umount2"));

  Napi::Object c = Napi::Object::New(env);
#define CONSTANT(name) c.Set(#name, Napi::Number::New(env, static_cast<double>(name)))
  CONSTANT(MS_RDONLY);
  CONSTANT(MS_NOSUID);
  CONSTANT(MS_NODEV);
  CONSTANT(MS_NOEXEC);
  CONSTANT(MS_SYNCHRONOUS);
  CONSTANT(MS_REMOUNT);
  CONSTANT(MS_MANDLOCK);
  CONSTANT(MS_DIRSYNC);
  CONSTANT(MS_NOATIME);
  CONSTANT(MS_NODIRATIME);
  CONSTANT(MS_BIND);
  CONSTANT(MS_MOVE);
  CONSTANT(MS_REC);
  CONSTANT(MS_SILENT);
  CONSTANT(MS_POSIXACL);
  CONSTANT(MS_UNBINDABLE);
  CONSTANT(MS_PRIVATE);
  CONSTANT(MS_SLAVE);
  CONSTANT(MS_SHARED);
  CONSTANT(MS_RELATIME);
  CONSTANT(MS_STRICTATIME);
  CONSTANT(MS_LAZYTIME);
  CONSTANT(MNT_FORCE);
  CONSTANT(MNT_DETACH);
  CONSTANT(MNT_EXPIRE);
  CONSTANT(UMOUNT_NOFOLLOW);
#undef CONSTANT
  exports.Set("constants", c);
}

}  // namespace ctrd

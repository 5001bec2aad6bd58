// A container's process, cloned from the shim as runc's nsexec and init make it, but from inside a
// multi-threaded Node process. Everything is decided in TypeScript (shims/native/plan.ts) and copied here into
// one Plan before the clone: strings, argv and envp, the list of set-up operations (mounts, devices,
// pivot_root, sysctls...), the credentials. The child is a copy of this address space with only the calling
// thread in it: other threads may hold malloc's or stdio's locks forever there. So it makes system calls on
// that memory and nothing more: glibc's plain wrappers, and syscall(2) for the set*id family, whose wrappers
// would signal the copied threads, which do not exist.
//
// The sync socket (a SOCK_STREAM pair, close-on-exec at both ends) carries one byte at a time from the parent,
// 'c' (proceed: the parent has put the process in its cgroups) and 's' (start), and records from the child:
// 'P' + pid (the intermediate's report), 'R' (ready, held before execve) and 'E' + step, index, detail, errno
// (int32s in host order). EOF after 's' means execve succeeded; EOF while the child waits means: give up.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <deque>
#include <vector>

#include "ctrd.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

namespace ctrd {
namespace {

// Where a child failed. The names are exported (containerConstants.steps) so that TypeScript words each one.
enum Step : int32_t {
  kStepOp,  // index: the plan's op, detail: 0 the op itself, 1 its remount, 2 its propagation change
  kStepSetns,  // index: the join entry
  kStepClone,
  kStepSync,
  kStepRlimit,  // index: the rlimit entry
  kStepSetsid,
  kStepConsole,  // detail: kConsole* below
  kStepStdio,  // index: the fd, detail: 0 dup, 1 fchown
  kStepSeccomp,
  kStepCapBounding,  // index: the capability
  kStepKeepCaps,
  kStepSetgroups,
  kStepSetgid,
  kStepSetuid,
  kStepCapset,
  kStepAmbient,  // index: the capability
  kStepChdir,
  kStepNoNewPrivs,
  kStepLookup,  // no candidate is an executable file; errno from the first candidate that exists, else ENOENT
  kStepExec,  // index: the candidate that execve refused
};
const char* const kStepNames[] = {
    "op",      "setns",     "clone",  "sync",   "rlimit", "setsid",  "console", "stdio", "seccomp", "capbset",
    "keepcaps", "setgroups", "setgid", "setuid", "capset", "ambient", "chdir",   "nnp",   "lookup",  "exec",
};

enum ConsoleDetail : int32_t {
  kConsoleOpen = 1,
  kConsoleUnlock,
  kConsoleNumber,
  kConsolePeer,
  kConsoleSize,
  kConsoleSend,
  kConsoleControlling,
  kConsoleMount,
};

enum OpKind {
  kOpMount,
  kOpBind,
  kOpMkdir,
  kOpTouch,
  kOpMknod,
  kOpSymlink,
  kOpUnlink,
  kOpMask,
  kOpReadonly,
  kOpPivotRoot,
  kOpMoveRoot,
  kOpWrite,
  kOpSethostname,
  kOpSetdomainname,
  kOpUnshare,
  kOpCgroupBind,
  kOpSetattr,
  kOpPersonality,
};

struct OpName {
  const char* name;
  OpKind kind;
};
const OpName kOpNames[] = {
    {"mount", kOpMount},
    {"bind", kOpBind},
    {"mkdir", kOpMkdir},
    {"touch", kOpTouch},
    {"mknod", kOpMknod},
    {"symlink", kOpSymlink},
    {"unlink", kOpUnlink},
    {"mask", kOpMask},
    {"readonly", kOpReadonly},
    {"pivot-root", kOpPivotRoot},
    {"move-root", kOpMoveRoot},
    {"write", kOpWrite},
    {"sethostname", kOpSethostname},
    {"setdomainname", kOpSetdomainname},
    {"unshare", kOpUnshare},
    {"cgroup-bind", kOpCgroupBind},
    {"setattr", kOpSetattr},
    {"personality", kOpPersonality},
};

// One set-up operation; which fields count depends on the kind (lib/native.ts ContainerOp documents them).
struct Op {
  OpKind kind = kOpMount;
  const char* source = nullptr;
  const char* target = nullptr;
  const char* fstype = nullptr;
  const char* data = nullptr;
  size_t data_length = 0;
  const char* root = nullptr;
  const char* key = nullptr;
  unsigned long flags = 0;
  unsigned long clear = 0;
  unsigned long propagation = 0;
  mode_t mode = 0;
  dev_t dev = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  bool recursive = false;
  bool bind_self = false;
};

struct Limit {
  int resource;
  struct rlimit64 value;
};

// Everything the child reads, built before the clone and never changed after it.
struct Plan {
  std::deque<std::string> strings;  // the storage behind every const char* below
  unsigned long clone_flags = 0;
  std::vector<int> join_fds;
  std::vector<int> join_types;
  std::vector<Op> ops;
  bool hold = false;

  std::vector<const char*> argv;  // NULL-terminated
  std::vector<const char*> envp;  // NULL-terminated
  std::vector<const char*> executables;
  const char* cwd = "/";
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool setgroups = true;
  mode_t umask = 022;
  std::vector<Limit> rlimits;
  bool caps = false;
  uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
  int last_cap = 0;
  bool no_new_privs = false;
  int stdio[3] = {-1, -1, -1};
  int console = -1;
  unsigned short rows = 0, cols = 0;
  bool console_mount = false;
  struct sock_fprog filter = {0, nullptr};
  bool seccomp = false;
  unsigned int seccomp_flags = 0;

  int sync = -1;

  const char* Keep(std::string s) {
    strings.push_back(std::move(s));
    return strings.back().c_str();
  }
};

// ---- reading the plan (in the parent, with exceptions pending instead of thrown) ----

class Reader {
 public:
  explicit Reader(Napi::Env env) : env_(env) {}
  bool ok() const { return ok_; }

  Napi::Object Object(Napi::Object parent, const char* key, const std::string& where) {
    Napi::Value v = Get(parent, key);
    if (!ok_) return Napi::Object::New(env_);
    if (!v.IsObject()) return Bad(where + "." + key, "an object"), Napi::Object::New(env_);
    return v.As<Napi::Object>();
  }

  bool Has(Napi::Object o, const char* key) {
    Napi::Value v = Get(o, key);
    return ok_ && !v.IsUndefined() && !v.IsNull();
  }

  // A string property that may be missing: nullptr then, and for "" too (mount(2) wants NULL for nothing).
  const char* OptionalString(Plan& plan, Napi::Object o, const char* key, const std::string& where, size_t* length = nullptr) {
    Napi::Value v = Get(o, key);
    if (!ok_ || v.IsUndefined() || v.IsNull()) return nullptr;
    std::string s = StringValue(v, where + "." + key);
    if (length != nullptr) *length = s.size();
    return s.empty() ? nullptr : plan.Keep(std::move(s));
  }

  uint64_t OptionalUint(Napi::Object o, const char* key, const std::string& where, uint64_t max) {
    Napi::Value v = Get(o, key);
    if (!ok_ || v.IsUndefined() || v.IsNull()) return 0;
    return UintValue(v, where + "." + key, max);
  }

  std::string String(Napi::Object o, const char* key, const std::string& where) {
    return StringValue(Get(o, key), where + "." + key);
  }

  std::string StringValue(Napi::Value v, const std::string& where) {
    if (!ok_) return "";
    if (!v.IsString()) return Bad(where, "a string"), "";
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.find('\0') != std::string::npos) return Bad(where, "a string without NUL bytes"), "";
    return s;
  }

  uint64_t Uint(Napi::Object o, const char* key, const std::string& where, uint64_t max) {
    return UintValue(Get(o, key), where + "." + key, max);
  }

  uint64_t UintValue(Napi::Value v, const std::string& where, uint64_t max) {
    if (!ok_) return 0;
    if (v.IsNumber()) {
      double d = v.As<Napi::Number>().DoubleValue();
      if (d >= 0 && d <= static_cast<double>(max) && d == static_cast<double>(static_cast<uint64_t>(d))) {
        return static_cast<uint64_t>(d);
      }
    }
    Bad(where, ("an integer from 0 to " + std::to_string(max)).c_str());
    return 0;
  }

  // rlimit values: a number at or beyond 2^64 - 1 (JSON's 18446744073709551615) is RLIM_INFINITY.
  uint64_t Limit(Napi::Object o, const char* key, const std::string& where) {
    Napi::Value v = Get(o, key);
    if (!ok_) return 0;
    if (v.IsNumber()) {
      double d = v.As<Napi::Number>().DoubleValue();
      if (d >= 18446744073709551615.0) return RLIM64_INFINITY;
      if (d >= 0 && d == static_cast<double>(static_cast<uint64_t>(d))) return static_cast<uint64_t>(d);
    }
    Bad(where + "." + key, "a non-negative integer");
    return 0;
  }

  bool Bool(Napi::Object o, const char* key, const std::string& where) {
    Napi::Value v = Get(o, key);
    if (!ok_) return false;
    if (v.IsUndefined()) return false;
    if (!v.IsBoolean()) return Bad(where + "." + key, "a boolean"), false;
    return v.As<Napi::Boolean>().Value();
  }

  Napi::Array Array(Napi::Object o, const char* key, const std::string& where) {
    Napi::Value v = Get(o, key);
    if (!ok_) return Napi::Array::New(env_);
    if (!v.IsArray()) return Bad(where + "." + key, "an array"), Napi::Array::New(env_);
    return v.As<Napi::Array>();
  }

  std::vector<std::string> Strings(Napi::Object o, const char* key, const std::string& where) {
    std::vector<std::string> out;
    Napi::Array a = Array(o, key, where);
    for (uint32_t i = 0; ok_ && i < a.Length(); i++) {
      out.push_back(StringValue(a.Get(i), where + "." + key + "[" + std::to_string(i) + "]"));
    }
    return out;
  }

  void Bad(const std::string& where, const char* want) {
    if (!ok_) return;
    ok_ = false;
    Napi::TypeError::New(env_, where + " must be " + want).ThrowAsJavaScriptException();
  }

 private:
  Napi::Value Get(Napi::Object o, const char* key) {
    if (!ok_) return env_.Undefined();
    Napi::Value v = o.Get(key);
    if (env_.IsExceptionPending()) ok_ = false;
    return v;
  }

  Napi::Env env_;
  bool ok_ = true;
};

void ReadOp(Reader& r, Plan& plan, Napi::Object o, const std::string& where) {
  Op op;
  std::string name = r.String(o, "op", where);
  if (!r.ok()) return;
  bool known = false;
  for (const OpName& n : kOpNames) {
    if (name == n.name) {
      op.kind = n.kind;
      known = true;
    }
  }
  if (!known) return r.Bad(where + ".op", "a known operation");
  op.source = r.OptionalString(plan, o, "source", where);
  op.target = r.OptionalString(plan, o, "target", where);
  op.fstype = r.OptionalString(plan, o, "fstype", where);
  op.data = r.OptionalString(plan, o, "data", where, &op.data_length);
  op.root = r.OptionalString(plan, o, "root", where);
  op.key = r.OptionalString(plan, o, "key", where);
  op.flags = r.OptionalUint(o, "flags", where, 0xffffffffu);
  op.clear = r.OptionalUint(o, "clear", where, 0xffffffffu);
  op.propagation = r.OptionalUint(o, "propagation", where, 0xffffffffu);
  op.mode = static_cast<mode_t>(r.OptionalUint(o, "mode", where, 0xffffffffu));
  op.dev = makedev(r.OptionalUint(o, "major", where, 0xfffu), r.OptionalUint(o, "minor", where, 0xfffffu));
  op.uid = static_cast<uid_t>(r.OptionalUint(o, "uid", where, 0xfffffffeu));
  op.gid = static_cast<gid_t>(r.OptionalUint(o, "gid", where, 0xfffffffeu));
  op.recursive = r.Bool(o, "recursive", where);
  op.bind_self = r.Bool(o, "bindSelf", where);
  bool needs_target = op.kind != kOpSethostname && op.kind != kOpSetdomainname && op.kind != kOpUnshare &&
                      op.kind != kOpPersonality;
  if (r.ok() && needs_target && op.target == nullptr) return r.Bad(where + ".target", "a non-empty string");
  plan.ops.push_back(op);
}

bool ReadPlan(const Napi::CallbackInfo& info, Plan* plan, Napi::Buffer<uint8_t>* filter) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "argument \"plan\" must be an object").ThrowAsJavaScriptException();
    return false;
  }
  Reader r(env);
  Napi::Object o = info[0].As<Napi::Object>();
  plan->clone_flags = r.Uint(o, "cloneFlags", "plan", 0xffffffffu);
  Napi::Array join = r.Array(o, "join", "plan");
  for (uint32_t i = 0; r.ok() && i < join.Length(); i++) {
    std::string where = "plan.join[" + std::to_string(i) + "]";
    Napi::Value v = join.Get(i);
    if (!v.IsObject()) return r.Bad(where, "an object"), false;
    plan->join_fds.push_back(static_cast<int>(r.Uint(v.As<Napi::Object>(), "fd", where, 0x7fffffffu)));
    plan->join_types.push_back(static_cast<int>(r.Uint(v.As<Napi::Object>(), "type", where, 0x7fffffffu)));
  }
  Napi::Array ops = r.Array(o, "ops", "plan");
  for (uint32_t i = 0; r.ok() && i < ops.Length(); i++) {
    std::string where = "plan.ops[" + std::to_string(i) + "]";
    Napi::Value v = ops.Get(i);
    if (!v.IsObject()) return r.Bad(where, "an object"), false;
    ReadOp(r, *plan, v.As<Napi::Object>(), where);
  }
  plan->hold = r.Bool(o, "hold", "plan");

  Napi::Object p = r.Object(o, "process", "plan");
  const std::string w = "plan.process";
  for (std::string& s : r.Strings(p, "args", w)) plan->argv.push_back(plan->Keep(std::move(s)));
  plan->argv.push_back(nullptr);
  if (r.ok() && plan->argv.size() < 2) return r.Bad(w + ".args", "a non-empty array"), false;
  for (std::string& s : r.Strings(p, "env", w)) plan->envp.push_back(plan->Keep(std::move(s)));
  plan->envp.push_back(nullptr);
  for (std::string& s : r.Strings(p, "executables", w)) plan->executables.push_back(plan->Keep(std::move(s)));
  plan->cwd = plan->Keep(r.String(p, "cwd", w));
  plan->uid = static_cast<uid_t>(r.Uint(p, "uid", w, 0xfffffffeu));
  plan->gid = static_cast<gid_t>(r.Uint(p, "gid", w, 0xfffffffeu));
  Napi::Array groups = r.Array(p, "additionalGids", w);
  for (uint32_t i = 0; r.ok() && i < groups.Length(); i++) {
    plan->groups.push_back(static_cast<gid_t>(
        r.UintValue(groups.Get(i), w + ".additionalGids[" + std::to_string(i) + "]", 0xfffffffeu)));
  }
  plan->setgroups = r.Bool(p, "setgroups", w);
  plan->umask = static_cast<mode_t>(r.Uint(p, "umask", w, 0777));
  Napi::Array limits = r.Array(p, "rlimits", w);
  for (uint32_t i = 0; r.ok() && i < limits.Length(); i++) {
    std::string where = w + ".rlimits[" + std::to_string(i) + "]";
    Napi::Value v = limits.Get(i);
    if (!v.IsObject()) return r.Bad(where, "an object"), false;
    Napi::Object l = v.As<Napi::Object>();
    Limit limit;
    limit.resource = static_cast<int>(r.Uint(l, "resource", where, RLIMIT_NLIMITS - 1));
    limit.value.rlim_cur = r.Limit(l, "soft", where);
    limit.value.rlim_max = r.Limit(l, "hard", where);
    plan->rlimits.push_back(limit);
  }
  if (r.Has(p, "capabilities")) {
    Napi::Object c = r.Object(p, "capabilities", w);
    const std::string cw = w + ".capabilities";
    const uint64_t all = (uint64_t{1} << 63) - 1;
    plan->caps = true;
    plan->bounding = r.Uint(c, "bounding", cw, all);
    plan->effective = r.Uint(c, "effective", cw, all);
    plan->permitted = r.Uint(c, "permitted", cw, all);
    plan->inheritable = r.Uint(c, "inheritable", cw, all);
    plan->ambient = r.Uint(c, "ambient", cw, all);
    plan->last_cap = static_cast<int>(r.Uint(c, "lastCap", cw, 63));
  }
  plan->no_new_privs = r.Bool(p, "noNewPrivileges", w);
  Napi::Array stdio = r.Array(p, "stdio", w);
  if (r.ok() && stdio.Length() != 3) return r.Bad(w + ".stdio", "an array of 3 fds"), false;
  for (uint32_t i = 0; r.ok() && i < 3; i++) {
    plan->stdio[i] = static_cast<int>(r.UintValue(stdio.Get(i), w + ".stdio[" + std::to_string(i) + "]", 0x7fffffffu));
  }
  if (r.Has(p, "console")) {
    Napi::Object c = r.Object(p, "console", w);
    const std::string cw = w + ".console";
    plan->console = static_cast<int>(r.Uint(c, "socket", cw, 0x7fffffffu));
    plan->rows = static_cast<unsigned short>(r.Uint(c, "rows", cw, 0xffffu));
    plan->cols = static_cast<unsigned short>(r.Uint(c, "cols", cw, 0xffffu));
    plan->console_mount = r.Bool(c, "mount", cw);
  }
  if (r.Has(p, "seccomp")) {
    Napi::Object s = r.Object(p, "seccomp", w);
    Napi::Value f = s.Get("filter");
    if (r.ok() && (!f.IsBuffer() || f.As<Napi::Buffer<uint8_t>>().Length() == 0 ||
                   f.As<Napi::Buffer<uint8_t>>().Length() % sizeof(struct sock_filter) != 0 ||
                   f.As<Napi::Buffer<uint8_t>>().Length() / sizeof(struct sock_filter) > BPF_MAXINSNS)) {
      return r.Bad(w + ".seccomp.filter", "a Buffer of struct sock_filter"), false;
    }
    if (r.ok()) {
      *filter = f.As<Napi::Buffer<uint8_t>>();
      plan->seccomp = true;
      plan->filter.len = static_cast<unsigned short>(filter->Length() / sizeof(struct sock_filter));
      plan->filter.filter = reinterpret_cast<struct sock_filter*>(filter->Data());
      plan->seccomp_flags = static_cast<unsigned int>(r.Uint(s, "flags", w + ".seccomp", 0xffffffffu));
    }
  }
  return r.ok();
}

// ---- the child: raw system calls only ----

pid_t RawClone(unsigned long flags) {
  // No new stack: the child runs on its copy of ours, like fork(2), but without glibc's atfork handlers.
  return static_cast<pid_t>(syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr));
}

// write(2) for files, send(2) without SIGPIPE for the sync socket: a child whose parent is gone just ends.
bool WriteAll(int fd, const void* buf, size_t n, bool socket = false) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = socket ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

[[noreturn]] void Fail(const Plan& p, Step step, int32_t index, int32_t detail, int err) {
  char record[17];
  int32_t fields[4] = {step, index, detail, err};
  record[0] = 'E';
  memcpy(record + 1, fields, sizeof fields);
  WriteAll(p.sync, record, sizeof record, true);
  _exit(1);
}

// Waits for the parent's byte: EOF (the parent gave up on us) ends the child quietly.
void Await(const Plan& p, char want) {
  char c;
  ssize_t n;
  do {
    n = read(p.sync, &c, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 0) _exit(0);
  if (n < 0) Fail(p, kStepSync, 0, 0, errno);
  if (c != want) Fail(p, kStepSync, 0, 0, EPROTO);
}

// Node's handlers must not run in the copy (libuv's write to a pipe the shim reads), and what Node ignores
// (SIGPIPE) must not stay ignored across execve.
void ResetSignals() {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, nullptr);  // glibc refuses its own two: fine
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Closes every fd from 3 up but the ones in keep: the shim's sockets, pty masters and other containers' sync
// sockets are not the container's business.
void CloseOtherFds(const int* keep, int n) {
  int sorted[64];
  int count = 0;
  for (int i = 0; i < n && count < 64; i++) {
    if (keep[i] < 3) continue;
    int j = count++;
    while (j > 0 && sorted[j - 1] > keep[i]) {
      sorted[j] = sorted[j - 1];
      j--;
    }
    sorted[j] = keep[i];
  }
  unsigned int from = 3;
  for (int i = 0; i < count; i++) {
    unsigned int fd = static_cast<unsigned int>(sorted[i]);
    if (fd > from) syscall(SYS_close_range, from, fd - 1, 0);
    if (fd + 1 > from) from = fd + 1;
  }
  syscall(SYS_close_range, from, ~0U, 0);
}

// Appends b to a into out; false when it does not fit.
bool Concat(char* out, size_t cap, const char* a, const char* b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la + lb + 1 > cap) return false;
  memcpy(out, a, la);
  memcpy(out + la, b, lb + 1);
  return true;
}

// The per-mount flags a remount must keep: in a user namespace the kernel locks those the parent set.
unsigned long StatfsFlags(const char* target) {
  struct statfs st;
  if (statfs(target, &st) != 0) return 0;
  unsigned long flags = 0;
  if (st.f_flags & ST_RDONLY) flags |= MS_RDONLY;
  if (st.f_flags & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flags & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flags & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flags & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

int Remount(const char* target, unsigned long flags) {
  if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | flags, nullptr) == 0) return 0;
  if (errno != EPERM) return errno;
  unsigned long locked = StatfsFlags(target) & ~MS_RDONLY;
  if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | flags | locked, nullptr) == 0) return 0;
  return errno;
}

int MakeDir(const char* path, mode_t mode) {
  if (mkdir(path, mode) == 0 || errno == EEXIST) return 0;
  return errno;
}

// Reads /proc/self/cgroup once (the child is in its cgroups by now) and finds the line of one hierarchy.
const char* CgroupPathOf(const char* key, char* out, size_t cap) {
  static char buf[16384];
  static ssize_t len = -1;
  if (len < 0) {
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    len = 0;
    while (len < static_cast<ssize_t>(sizeof buf) - 1) {
      ssize_t n = read(fd, buf + len, sizeof buf - 1 - static_cast<size_t>(len));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      len += n;
    }
    close(fd);
    buf[len] = '\0';
  }
  size_t key_len = strlen(key);
  for (char* line = buf; line < buf + len;) {
    char* end = strchr(line, '\n');
    if (end == nullptr) end = buf + len;
    char* first = strchr(line, ':');
    char* second = first != nullptr && first < end ? strchr(first + 1, ':') : nullptr;
    if (second != nullptr && second < end && static_cast<size_t>(second - first - 1) == key_len &&
        memcmp(first + 1, key, key_len) == 0) {
      size_t n = static_cast<size_t>(end - second - 1);
      if (n + 1 > cap) return nullptr;
      memcpy(out, second + 1, n);
      out[n] = '\0';
      return out;
    }
    line = end + 1;
  }
  return nullptr;
}

// One operation; returns 0 or sets *detail and returns the errno.
int RunOp(const Op& op, int* detail) {
  *detail = 0;
  switch (op.kind) {
    case kOpMount:
      if (mount(op.source, op.target, op.fstype, op.flags, op.data) != 0) return errno;
      if (op.propagation != 0 && mount(nullptr, op.target, nullptr, op.propagation, nullptr) != 0) {
        *detail = 2;
        return errno;
      }
      return 0;
    case kOpBind:
      if (mount(op.source, op.target, nullptr, MS_BIND | (op.recursive ? MS_REC : 0), nullptr) != 0) return errno;
      if (op.flags != 0) {
        int err = Remount(op.target, op.flags);
        if (err != 0) return *detail = 1, err;
      }
      if (op.propagation != 0 && mount(nullptr, op.target, nullptr, op.propagation, nullptr) != 0) {
        *detail = 2;
        return errno;
      }
      return 0;
    case kOpMkdir:
      return MakeDir(op.target, op.mode);
    case kOpTouch: {
      int fd = open(op.target, O_CREAT | O_EXCL | O_WRONLY | O_NOCTTY | O_CLOEXEC, op.mode);
      if (fd < 0) return errno == EEXIST ? 0 : errno;
      close(fd);
      return 0;
    }
    case kOpMknod:
      if (mknod(op.target, op.mode, op.dev) != 0) return errno == EEXIST ? 0 : errno;
      if (lchown(op.target, op.uid, op.gid) != 0) return *detail = 1, errno;
      return 0;
    case kOpSymlink:
      if (symlink(op.source, op.target) != 0 && errno != EEXIST) return errno;
      return 0;
    case kOpUnlink:
      if (unlink(op.target) != 0 && errno != ENOENT) return errno;
      return 0;
    case kOpMask: {
      struct stat st;
      if (stat(op.target, &st) != 0) return errno == ENOENT ? 0 : errno;
      if (S_ISDIR(st.st_mode)) {
        if (mount("tmpfs", op.target, "tmpfs", MS_RDONLY, nullptr) != 0) return errno;
      } else if (mount("/dev/null", op.target, nullptr, MS_BIND, nullptr) != 0) {
        return errno;
      }
      return 0;
    }
    case kOpReadonly: {
      if (op.bind_self) {
        struct stat st;
        if (stat(op.target, &st) != 0) return errno == ENOENT ? 0 : errno;
        if (mount(op.target, op.target, nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
      }
      unsigned long keep = StatfsFlags(op.target) & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
      int err = Remount(op.target, MS_RDONLY | keep);
      if (err != 0) *detail = 1;
      return err;
    }
    case kOpPivotRoot: {
      int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
      if (old_root < 0) return errno;
      int new_root = open(op.target, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
      if (new_root < 0) return errno;
      if (fchdir(new_root) != 0) return errno;
      if (syscall(SYS_pivot_root, ".", ".") != 0) {
        // A root on ramfs (the initramfs) cannot be pivoted away from: move over it and chroot instead.
        if (errno != EINVAL) return errno;
        if (mount(op.target, "/", nullptr, MS_MOVE, nullptr) != 0 || chroot(".") != 0 || chdir("/") != 0) {
          return *detail = 1, errno;
        }
        close(old_root);
        close(new_root);
        return 0;
      }
      // The old root is stacked on "." now; never let its unmount propagate to the host.
      if (fchdir(old_root) != 0) return errno;
      if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) return *detail = 2, errno;
      if (umount2(".", MNT_DETACH) != 0) return *detail = 1, errno;
      if (chdir("/") != 0) return errno;
      close(old_root);
      close(new_root);
      return 0;
    }
    case kOpMoveRoot:
      if (chdir(op.target) != 0) return errno;
      if (mount(op.target, "/", nullptr, MS_MOVE, nullptr) != 0) return errno;
      if (chroot(".") != 0 || chdir("/") != 0) return errno;
      return 0;
    case kOpWrite: {
      int fd = open(op.target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
      if (fd < 0) return errno;
      bool ok = WriteAll(fd, op.data != nullptr ? op.data : "", op.data_length);
      int err = errno;
      close(fd);
      return ok ? 0 : err;
    }
    case kOpSethostname:
      return sethostname(op.data != nullptr ? op.data : "", op.data_length) == 0 ? 0 : errno;
    case kOpSetdomainname:
      return setdomainname(op.data != nullptr ? op.data : "", op.data_length) == 0 ? 0 : errno;
    case kOpUnshare:
      return unshare(static_cast<int>(op.flags)) == 0 ? 0 : errno;
    case kOpCgroupBind: {
      char path[PATH_MAX], source[PATH_MAX];
      if (CgroupPathOf(op.key != nullptr ? op.key : "", path, sizeof path) == nullptr) return ENOENT;
      // The line's path is relative to the hierarchy's root; the host mount shows the hierarchy from op.root.
      const char* rel = path;
      size_t root_len = op.root != nullptr ? strlen(op.root) : 0;
      if (root_len > 1 && strncmp(path, op.root, root_len) == 0 && (path[root_len] == '/' || path[root_len] == '\0')) {
        rel = path + root_len;
      }
      if (!Concat(source, sizeof source, op.source, rel)) return ENAMETOOLONG;
      int err = MakeDir(op.target, 0755);
      if (err != 0) return err;
      if (mount(source, op.target, nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
      if (op.flags != 0 && (err = Remount(op.target, op.flags)) != 0) return *detail = 1, err;
      return 0;
    }
    case kOpSetattr: {
      struct {
        uint64_t attr_set, attr_clr, propagation, userns_fd;
      } attr = {op.flags, op.clear, op.propagation, 0};
      if (syscall(SYS_mount_setattr, AT_FDCWD, op.target, AT_RECURSIVE, &attr, sizeof attr) != 0) return errno;
      return 0;
    }
    case kOpPersonality:
      return personality(op.flags) == -1 ? errno : 0;
  }
  return EINVAL;
}

// Writes n in decimal after prefix into out.
void FormatNumber(char* out, size_t cap, const char* prefix, unsigned int n) {
  char digits[16];
  int len = 0;
  do {
    digits[len++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0);
  size_t at = strlen(prefix);
  if (at + static_cast<size_t>(len) + 1 > cap) {
    out[0] = '\0';
    return;
  }
  memcpy(out, prefix, at);
  while (len > 0) out[at++] = digits[--len];
  out[at] = '\0';
}

// A pty from the container's own /dev/ptmx: the master goes over the console socket, the slave becomes
// stdio and the controlling terminal.
void SetUpConsole(const Plan& p) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) Fail(p, kStepConsole, 0, kConsoleOpen, errno);
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0) Fail(p, kStepConsole, 0, kConsoleUnlock, errno);
  unsigned int number = 0;
  if (ioctl(master, TIOCGPTN, &number) != 0) Fail(p, kStepConsole, 0, kConsoleNumber, errno);
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) Fail(p, kStepConsole, 0, kConsolePeer, errno);
  if (p.rows != 0 && p.cols != 0) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = p.rows;
    ws.ws_col = p.cols;
    if (ioctl(slave, TIOCSWINSZ, &ws) != 0) Fail(p, kStepConsole, 0, kConsoleSize, errno);
  }
  char name[32];
  FormatNumber(name, sizeof name, "/dev/pts/", number);
  if (p.console_mount) {
    int fd = open("/dev/console", O_CREAT | O_EXCL | O_WRONLY | O_NOCTTY | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    if (mount(name, "/dev/console", nullptr, MS_BIND, nullptr) != 0) Fail(p, kStepConsole, 0, kConsoleMount, errno);
  }
  struct iovec iov = {name, strlen(name)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &master, sizeof master);
  ssize_t sent;
  do {
    sent = sendmsg(p.console, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) Fail(p, kStepConsole, 0, kConsoleSend, errno);
  close(master);
  close(p.console);
  if (ioctl(slave, TIOCSCTTY, 0) != 0) Fail(p, kStepConsole, 0, kConsoleControlling, errno);
  for (int fd = 0; fd < 3; fd++) {
    if (dup2(slave, fd) < 0) Fail(p, kStepStdio, fd, 0, errno);
  }
  if (slave > 2) close(slave);
}

void SetUpStdio(const Plan& p) {
  // Through fresh fds first: one of the given fds may be 0, 1 or 2 itself.
  int copies[3];
  for (int i = 0; i < 3; i++) {
    copies[i] = fcntl(p.stdio[i], F_DUPFD_CLOEXEC, 3);
    if (copies[i] < 0) Fail(p, kStepStdio, i, 0, errno);
  }
  for (int i = 0; i < 3; i++) {
    if (dup2(copies[i], i) < 0) Fail(p, kStepStdio, i, 0, errno);
    close(copies[i]);
  }
}

// The user must be able to reopen its stdio (/proc/self/fd/1, /dev/stdout): the pipes and the pty become
// its own, as runc does; /dev/null and what cannot be changed (EPERM in a user namespace) stay as they are.
void ChownStdio(const Plan& p) {
  for (int fd = 0; fd < 3; fd++) {
    struct stat st;
    if (fstat(fd, &st) != 0) Fail(p, kStepStdio, fd, 1, errno);
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) continue;
    if (st.st_uid == p.uid) continue;
    if (fchown(fd, p.uid, static_cast<gid_t>(-1)) != 0 && errno != EINVAL && errno != EPERM && errno != EROFS) {
      Fail(p, kStepStdio, fd, 1, errno);
    }
  }
}

void LoadSeccomp(const Plan& p) {
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p.seccomp_flags, &p.filter) == 0) return;
  Fail(p, kStepSeccomp, 0, 0, errno);
}

void SetCapabilities(const Plan& p) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  data[0].effective = static_cast<uint32_t>(p.effective);
  data[0].permitted = static_cast<uint32_t>(p.permitted);
  data[0].inheritable = static_cast<uint32_t>(p.inheritable);
  data[1].effective = static_cast<uint32_t>(p.effective >> 32);
  data[1].permitted = static_cast<uint32_t>(p.permitted >> 32);
  data[1].inheritable = static_cast<uint32_t>(p.inheritable >> 32);
  if (syscall(SYS_capset, &header, data) != 0) Fail(p, kStepCapset, 0, 0, errno);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    Fail(p, kStepAmbient, -1, 0, errno);
  }
  for (int cap = 0; cap <= p.last_cap; cap++) {
    if ((p.ambient >> cap) & 1) {
      if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) Fail(p, kStepAmbient, cap, 0, errno);
    }
  }
}

// The first candidate that is an executable file to this user (Go's exec.LookPath, as runc checks before
// it waits for start); -1 with *err set otherwise.
int LookUp(const Plan& p, int* err) {
  *err = ENOENT;
  bool seen = false;
  for (size_t i = 0; i < p.executables.size(); i++) {
    struct stat st;
    if (stat(p.executables[i], &st) != 0) continue;
    int e = 0;
    if (S_ISDIR(st.st_mode)) e = EACCES;
    else if (faccessat(AT_FDCWD, p.executables[i], X_OK, AT_EACCESS) != 0) e = errno;
    if (e == 0) return static_cast<int>(i);
    if (!seen) *err = e, seen = true;
  }
  return -1;
}

// The process itself: limits, session and stdio, credentials, then execve. No mounts.
[[noreturn]] void BecomeProcess(const Plan& p) {
  for (size_t i = 0; i < p.rlimits.size(); i++) {
    if (syscall(SYS_prlimit64, 0, p.rlimits[i].resource, &p.rlimits[i].value, nullptr) != 0) {
      Fail(p, kStepRlimit, static_cast<int32_t>(i), 0, errno);
    }
  }
  if (setsid() < 0) Fail(p, kStepSetsid, 0, 0, errno);
  if (p.console >= 0) SetUpConsole(p);
  else SetUpStdio(p);
  ChownStdio(p);
  // Without no_new_privs a filter needs CAP_SYS_ADMIN, which the capabilities below may take away.
  if (p.seccomp && !p.no_new_privs) LoadSeccomp(p);
  if (p.caps) {
    for (int cap = 0; cap <= p.last_cap; cap++) {
      if (((p.bounding >> cap) & 1) == 0 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        Fail(p, kStepCapBounding, cap, 0, errno);
      }
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) Fail(p, kStepKeepCaps, 0, 0, errno);
  }
  // Tried as root first (a directory the user cannot search yet), again as the user if that failed.
  bool in_cwd = chdir(p.cwd) == 0;
  if (p.setgroups && syscall(SYS_setgroups, p.groups.size(), p.groups.data()) != 0) {
    Fail(p, kStepSetgroups, 0, 0, errno);
  }
  if (syscall(SYS_setresgid, p.gid, p.gid, p.gid) != 0) Fail(p, kStepSetgid, 0, 0, errno);
  if (syscall(SYS_setresuid, p.uid, p.uid, p.uid) != 0) Fail(p, kStepSetuid, 0, 0, errno);
  if (!in_cwd && chdir(p.cwd) != 0) Fail(p, kStepChdir, 0, 0, errno);
  if (p.caps) {
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) Fail(p, kStepKeepCaps, 0, 0, errno);
    SetCapabilities(p);
  }
  umask(p.umask);
  if (p.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(p, kStepNoNewPrivs, 0, 0, errno);
  int err;
  int found = LookUp(p, &err);
  if (found < 0) Fail(p, kStepLookup, 0, 0, err);
  syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  if (p.hold) {
    if (!WriteAll(p.sync, "R", 1, true)) _exit(0);
    Await(p, 's');
  }
  if (p.seccomp && p.no_new_privs) LoadSeccomp(p);
  execve(p.executables[found], const_cast<char* const*>(p.argv.data()), const_cast<char* const*>(p.envp.data()));
  Fail(p, kStepExec, found, 0, errno);
}

[[noreturn]] void RunChild(const Plan& p) {
  int keep[] = {p.sync, p.stdio[0], p.stdio[1], p.stdio[2], p.console};
  CloseOtherFds(keep, 5);
  umask(0);  // every mode in the plan is meant exactly
  Await(p, 'c');
  // Root of its user namespace, now that the parent has written the maps: files it creates (mount points in
  // a tmpfs the namespace owns) must have an owner mapped there. The host's root is that already.
  if (syscall(SYS_setresgid, 0, 0, 0) != 0) Fail(p, kStepSetgid, 0, 0, errno);
  if (p.setgroups && syscall(SYS_setgroups, 0, nullptr) != 0) Fail(p, kStepSetgroups, 0, 0, errno);
  if (syscall(SYS_setresuid, 0, 0, 0) != 0) Fail(p, kStepSetuid, 0, 0, errno);
  for (size_t i = 0; i < p.ops.size(); i++) {
    int detail;
    int err = RunOp(p.ops[i], &detail);
    if (err != 0) Fail(p, kStepOp, static_cast<int32_t>(i), detail, err);
  }
  BecomeProcess(p);
}

// Joins the namespaces, then clones the container's process as a sibling (CLONE_PARENT: the shim is its
// parent and reaps it), which a pid namespace needs: setns(CLONE_NEWPID) only moves children.
[[noreturn]] void RunIntermediate(const Plan& p) {
  int keep[64] = {p.sync, p.stdio[0], p.stdio[1], p.stdio[2], p.console};
  int n = 5;
  for (size_t i = 0; i < p.join_fds.size() && n < 64; i++) keep[n++] = p.join_fds[i];
  CloseOtherFds(keep, n);
  // The user namespace last: the shim's root is privileged over every namespace now, but no longer over those
  // the host owns once it is inside the container's.
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < p.join_fds.size(); i++) {
      if ((p.join_types[i] == CLONE_NEWUSER) != (pass == 1)) continue;
      if (setns(p.join_fds[i], p.join_types[i]) != 0) Fail(p, kStepSetns, static_cast<int32_t>(i), 0, errno);
    }
  }
  pid_t pid = RawClone(CLONE_PARENT | p.clone_flags | SIGCHLD);
  if (pid < 0) Fail(p, kStepClone, 0, 0, errno);
  if (pid == 0) {
    for (int fd : p.join_fds) close(fd);
    RunChild(p);
  }
  char report[5];
  int32_t value = pid;
  report[0] = 'P';
  memcpy(report + 1, &value, sizeof value);
  WriteAll(p.sync, report, sizeof report, true);
  _exit(0);
}

// ---- the parent ----

// Reads exactly n bytes within the deadline; 0, or the errno (EPIPE for EOF, ETIMEDOUT).
int ReadReport(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int ready = poll(&pfd, 1, 10000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return errno;
    if (ready == 0) return ETIMEDOUT;
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return EPIPE;
    got += static_cast<size_t>(r);
  }
  return 0;
}

Napi::Object Failure(Napi::Env env, int32_t step, int32_t index, int32_t detail, int32_t err) {
  Napi::Object f = Napi::Object::New(env);
  f.Set("step", Napi::String::New(env, step >= 0 && step <= kStepExec ? kStepNames[step] : "unknown"));
  f.Set("index", Napi::Number::New(env, index));
  f.Set("detail", Napi::Number::New(env, detail));
  f.Set("errno", Napi::Number::New(env, err));
  Napi::Object out = Napi::Object::New(env);
  out.Set("failure", f);
  return out;
}

Napi::Value SpawnContainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Plan plan;
  Napi::Buffer<uint8_t> filter;  // keeps the filter's memory alive until the clone copied it
  if (!ReadPlan(info, &plan, &filter)) return env.Undefined();

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    ThrowErrno(env, errno, "socketpair", "");
    return env.Undefined();
  }
  plan.sync = sv[1];
  bool intermediate = !plan.join_fds.empty();

  // No signal may reach the child before it has reset Node's handlers.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = RawClone(intermediate ? SIGCHLD : (plan.clone_flags | SIGCHLD));
  if (pid == 0) {
    ResetSignals();
    // A copy of the shim's memory: nothing in the container may ptrace it or read /proc/<pid>/mem before
    // execve, which makes the process dumpable again.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (intermediate) RunIntermediate(plan);
    RunChild(plan);
  }
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    ThrowErrno(env, clone_err, "clone", "");
    return env.Undefined();
  }

  if (intermediate) {
    // It reports the container process's pid (or its failure) and exits at once: it is reaped here, so that
    // the shim's reaper never sees a process it was not told about.
    pid_t middle = pid;
    char tag = 0;
    int32_t fields[4];
    int err = ReadReport(sv[0], &tag, 1);
    if (err == 0 && tag == 'P') {
      int32_t child;
      err = ReadReport(sv[0], reinterpret_cast<char*>(&child), sizeof child);
      pid = child;
    } else if (err == 0 && tag == 'E') {
      err = ReadReport(sv[0], reinterpret_cast<char*>(fields), sizeof fields);
    } else if (err == 0) {
      err = EPROTO;
    }
    if (err != 0) kill(middle, SIGKILL);
    int status;
    while (waitpid(middle, &status, __WALL) < 0 && errno == EINTR) {
    }
    if (err != 0 || tag != 'P') {
      close(sv[0]);
      if (err == 0) return Failure(env, fields[0], fields[1], fields[2], fields[3]);
      ThrowErrno(env, err, "clone", "intermediate process");
      return env.Undefined();
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("fd", Napi::Number::New(env, sv[0]));
  return out;
}

// A connected unix stream socket (blocking, close-on-exec): the console socket a child sends its pty to.
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!StringArg(info, 0, "path", &path)) return env.Undefined();
  struct sockaddr_un addr;
  if (!UnixAddress(env, path, "connect", &addr)) return env.Undefined();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, errno, "socket", path);
    return env.Undefined();
  }
  int r;
  do {
    r = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "connect", path);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

}  // namespace

void InitContainer(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnContainer", Napi::Function::New(env, SpawnContainer, "spawnContainer"));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix, "connectUnix"));

  Napi::Object c = Napi::Object::New(env);
#define CONSTANT(obj, name) obj.Set(#name, Napi::Number::New(env, static_cast<double>(name)))
  CONSTANT(c, CLONE_NEWNS);
  CONSTANT(c, CLONE_NEWUTS);
  CONSTANT(c, CLONE_NEWIPC);
  CONSTANT(c, CLONE_NEWUSER);
  CONSTANT(c, CLONE_NEWPID);
  CONSTANT(c, CLONE_NEWNET);
  CONSTANT(c, CLONE_NEWCGROUP);
  CONSTANT(c, MOUNT_ATTR_RDONLY);
  CONSTANT(c, MOUNT_ATTR_NOSUID);
  CONSTANT(c, MOUNT_ATTR_NODEV);
  CONSTANT(c, MOUNT_ATTR_NOEXEC);
  CONSTANT(c, MOUNT_ATTR__ATIME);
  CONSTANT(c, MOUNT_ATTR_RELATIME);
  CONSTANT(c, MOUNT_ATTR_NOATIME);
  CONSTANT(c, MOUNT_ATTR_STRICTATIME);
  CONSTANT(c, MOUNT_ATTR_NODIRATIME);
  CONSTANT(c, MOUNT_ATTR_NOSYMFOLLOW);
  CONSTANT(c, MS_NOSYMFOLLOW);
  CONSTANT(c, SECCOMP_FILTER_FLAG_TSYNC);
  CONSTANT(c, SECCOMP_FILTER_FLAG_LOG);
  CONSTANT(c, SECCOMP_FILTER_FLAG_SPEC_ALLOW);
  CONSTANT(c, PER_LINUX);
  CONSTANT(c, PER_LINUX32);
  CONSTANT(c, S_IFCHR);
  CONSTANT(c, S_IFBLK);
  CONSTANT(c, S_IFIFO);

  Napi::Object caps = Napi::Object::New(env);
  CONSTANT(caps, CAP_CHOWN);
  CONSTANT(caps, CAP_DAC_OVERRIDE);
  CONSTANT(caps, CAP_DAC_READ_SEARCH);
  CONSTANT(caps, CAP_FOWNER);
  CONSTANT(caps, CAP_FSETID);
  CONSTANT(caps, CAP_KILL);
  CONSTANT(caps, CAP_SETGID);
  CONSTANT(caps, CAP_SETUID);
  CONSTANT(caps, CAP_SETPCAP);
  CONSTANT(caps, CAP_LINUX_IMMUTABLE);
  CONSTANT(caps, CAP_NET_BIND_SERVICE);
  CONSTANT(caps, CAP_NET_BROADCAST);
  CONSTANT(caps, CAP_NET_ADMIN);
  CONSTANT(caps, CAP_NET_RAW);
  CONSTANT(caps, CAP_IPC_LOCK);
  CONSTANT(caps, CAP_IPC_OWNER);
  CONSTANT(caps, CAP_SYS_MODULE);
  CONSTANT(caps, CAP_SYS_RAWIO);
  CONSTANT(caps, CAP_SYS_CHROOT);
  CONSTANT(caps, CAP_SYS_PTRACE);
  CONSTANT(caps, CAP_SYS_PACCT);
  CONSTANT(caps, CAP_SYS_ADMIN);
  CONSTANT(caps, CAP_SYS_BOOT);
  CONSTANT(caps, CAP_SYS_NICE);
  CONSTANT(caps, CAP_SYS_RESOURCE);
  CONSTANT(caps, CAP_SYS_TIME);
  CONSTANT(caps, CAP_SYS_TTY_CONFIG);
  CONSTANT(caps, CAP_MKNOD);
  CONSTANT(caps, CAP_LEASE);
  CONSTANT(caps, CAP_AUDIT_WRITE);
  CONSTANT(caps, CAP_AUDIT_CONTROL);
  CONSTANT(caps, CAP_SETFCAP);
  CONSTANT(caps, CAP_MAC_OVERRIDE);
  CONSTANT(caps, CAP_MAC_ADMIN);
  CONSTANT(caps, CAP_SYSLOG);
  CONSTANT(caps, CAP_WAKE_ALARM);
  CONSTANT(caps, CAP_BLOCK_SUSPEND);
  CONSTANT(caps, CAP_AUDIT_READ);
  CONSTANT(caps, CAP_PERFMON);
  CONSTANT(caps, CAP_BPF);
  CONSTANT(caps, CAP_CHECKPOINT_RESTORE);
  c.Set("capabilities", caps);

  Napi::Object limits = Napi::Object::New(env);
  CONSTANT(limits, RLIMIT_CPU);
  CONSTANT(limits, RLIMIT_FSIZE);
  CONSTANT(limits, RLIMIT_DATA);
  CONSTANT(limits, RLIMIT_STACK);
  CONSTANT(limits, RLIMIT_CORE);
  CONSTANT(limits, RLIMIT_RSS);
  CONSTANT(limits, RLIMIT_NPROC);
  CONSTANT(limits, RLIMIT_NOFILE);
  CONSTANT(limits, RLIMIT_MEMLOCK);
  CONSTANT(limits, RLIMIT_AS);
  CONSTANT(limits, RLIMIT_LOCKS);
  CONSTANT(limits, RLIMIT_SIGPENDING);
  CONSTANT(limits, RLIMIT_MSGQUEUE);
  CONSTANT(limits, RLIMIT_NICE);
  CONSTANT(limits, RLIMIT_RTPRIO);
  CONSTANT(limits, RLIMIT_RTTIME);
  c.Set("rlimits", limits);
#undef CONSTANT

  Napi::Array steps = Napi::Array::New(env);
  for (uint32_t i = 0; i <= kStepExec; i++) steps.Set(i, Napi::String::New(env, kStepNames[i]));
  c.Set("steps", steps);
  exports.Set("containerConstants", c);
}

}  // namespace ctrd

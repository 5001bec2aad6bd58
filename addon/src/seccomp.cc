// A seccomp filter compiled from an OCI linux.seccomp profile with libseccomp, and exported as the classic BPF
// program a loader hands to seccomp(2). Nothing is loaded here: the filter is for a container's process, and
// loading it belongs to the freshly cloned child that execs it. The rules follow runc's reading of the profile
// (libcontainer/seccomp): unknown syscall names are skipped, a rule with the default action is redundant, and a
// rule with two conditions on one argument becomes one rule per condition.
#include <errno.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <vector>

#include "ctrd.h"

namespace ctrd {
namespace {

// The filter context, released on every way out.
class Filter {
 public:
  explicit Filter(uint32_t default_action) : ctx_(seccomp_init(default_action)) {}
  ~Filter() {
    if (ctx_ != nullptr) seccomp_release(ctx_);
  }
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

// An fd closed on every way out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The profile's mistakes are the caller's: an Error that names the field, e.g. "seccomp: syscalls[3].action:
// unknown action \"SCMP_ACT_NOPE\"".
void ThrowField(Napi::Env env, const std::string& field, const std::string& what) {
  Napi::Error::New(env, "seccomp: " + field + ": " + what).ThrowAsJavaScriptException();
}

bool GetArray(Napi::Env env, Napi::Object obj, const char* key, const std::string& field, bool optional,
              Napi::Array* out) {
  Napi::Value v = obj.Get(key);
  if (optional && (v.IsUndefined() || v.IsNull())) {
    *out = Napi::Array::New(env, 0);
    return true;
  }
  if (!v.IsArray()) {
    ThrowField(env, field, "must be an array");
    return false;
  }
  *out = v.As<Napi::Array>();
  return true;
}

bool GetString(Napi::Env env, Napi::Value v, const std::string& field, std::string* out) {
  if (!v.IsString()) {
    ThrowField(env, field, "must be a string");
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

// A uint64 as a decimal string (JSON numbers lose precision past 2^53) or as a safe integer.
bool GetUint64(Napi::Env env, Napi::Value v, const std::string& field, uint64_t* out) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<uint64_t>(d))) {
      *out = static_cast<uint64_t>(d);
      return true;
    }
  } else if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    bool digits = !s.empty() && s.size() <= 20;
    for (char c : s) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (digits) {
      errno = 0;
      unsigned long long n = std::strtoull(s.c_str(), nullptr, 10);
      if (errno == 0) {
        *out = n;
        return true;
      }
    }
  }
  ThrowField(env, field, "must be an integer from 0 to 2^64-1 (a decimal string past 2^53)");
  return false;
}

// An errno value for SCMP_ACT_ERRNO/TRACE: the 16 bits of SECCOMP_RET_DATA; absent is EPERM, as in runc.
bool GetErrno(Napi::Env env, Napi::Object obj, const char* key, const std::string& field, uint32_t* out) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    *out = EPERM;
    return true;
  }
  uint64_t n;
  if (!GetUint64(env, v, field, &n)) return false;
  if (n > 0xffff) {
    ThrowField(env, field, "must be at most 65535");
    return false;
  }
  *out = static_cast<uint32_t>(n);
  return true;
}

// "syscalls[3]" + "action", or a top-level key alone.
std::string Member(const std::string& parent, const char* key) { return parent.empty() ? key : parent + "." + key; }

// An OCI action name (with its errno where it takes one) as libseccomp's action value.
bool GetAction(Napi::Env env, Napi::Object obj, const char* action_key, const char* errno_key,
               const std::string& parent, uint32_t* out) {
  std::string name;
  if (!GetString(env, obj.Get(action_key), Member(parent, action_key), &name)) return false;
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") {
    *out = SCMP_ACT_KILL_THREAD;
  } else if (name == "SCMP_ACT_KILL_PROCESS") {
    *out = SCMP_ACT_KILL_PROCESS;
  } else if (name == "SCMP_ACT_TRAP") {
    *out = SCMP_ACT_TRAP;
  } else if (name == "SCMP_ACT_ALLOW") {
    *out = SCMP_ACT_ALLOW;
  } else if (name == "SCMP_ACT_LOG") {
    *out = SCMP_ACT_LOG;
  } else if (name == "SCMP_ACT_NOTIFY") {
    *out = SCMP_ACT_NOTIFY;
  } else if (name == "SCMP_ACT_ERRNO" || name == "SCMP_ACT_TRACE") {
    uint32_t err;
    if (!GetErrno(env, obj, errno_key, Member(parent, errno_key), &err)) return false;
    *out = name == "SCMP_ACT_ERRNO" ? SCMP_ACT_ERRNO(err) : SCMP_ACT_TRACE(err);
  } else {
    ThrowField(env, Member(parent, action_key), "unknown action \"" + name + "\"");
    return false;
  }
  return true;
}

// "SCMP_ARCH_X86_64" is libseccomp's "x86_64": the OCI names are libseccomp's, upper-cased and prefixed.
bool GetArch(Napi::Env env, Napi::Value v, const std::string& field, uint32_t* out) {
  std::string name;
  if (!GetString(env, v, field, &name)) return false;
  const std::string prefix = "SCMP_ARCH_";
  uint32_t token = 0;
  if (name.compare(0, prefix.size(), prefix) == 0 && name.size() > prefix.size()) {
    std::string lower = name.substr(prefix.size());
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    token = seccomp_arch_resolve_name(lower.c_str());
  }
  if (token == 0) {
    ThrowField(env, field, "unknown architecture \"" + name + "\"");
    return false;
  }
  *out = token;
  return true;
}

bool GetComparison(Napi::Env env, Napi::Value v, const std::string& field, scmp_compare* out) {
  std::string name;
  if (!GetString(env, v, field, &name)) return false;
  static const struct {
    const char* name;
    scmp_compare op;
  } ops[] = {
      {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (const auto& o : ops) {
    if (name == o.name) {
      *out = o.op;
      return true;
    }
  }
  ThrowField(env, field, "unknown comparison \"" + name + "\"");
  return false;
}

// One argument condition. For SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the datum:
// (arg & value) == valueTwo.
bool GetCondition(Napi::Env env, Napi::Value v, const std::string& field, scmp_arg_cmp* out) {
  if (!v.IsObject()) {
    ThrowField(env, field, "must be an object");
    return false;
  }
  Napi::Object arg = v.As<Napi::Object>();
  uint64_t index, value, value_two = 0;
  if (!GetUint64(env, arg.Get("index"), field + ".index", &index)) return false;
  if (index > 5) {
    ThrowField(env, field + ".index", "must be from 0 to 5");
    return false;
  }
  if (!GetUint64(env, arg.Get("value"), field + ".value", &value)) return false;
  Napi::Value two = arg.Get("valueTwo");
  if (!two.IsUndefined() && !two.IsNull() && !GetUint64(env, two, field + ".valueTwo", &value_two)) return false;
  scmp_compare op;
  if (!GetComparison(env, arg.Get("op"), field + ".op", &op)) return false;
  *out = scmp_arg_cmp{static_cast<unsigned int>(index), op, value, value_two};
  return true;
}

bool AddRule(Napi::Env env, const Filter& filter, const std::string& name, int nr, uint32_t action,
             const std::vector<scmp_arg_cmp>& conditions) {
  int rc = seccomp_rule_add_array(filter.get(), action, nr, static_cast<unsigned int>(conditions.size()),
                                  conditions.empty() ? nullptr : conditions.data());
  if (rc < 0) {
    ThrowErrno(env, -rc, "seccomp_rule_add", name);
    return false;
  }
  return true;
}

// One entry of syscalls[]: its action and conditions for each of its names.
bool AddSyscalls(Napi::Env env, const Filter& filter, uint32_t default_action, Napi::Value v,
                 const std::string& field) {
  if (!v.IsObject()) {
    ThrowField(env, field, "must be an object");
    return false;
  }
  Napi::Object call = v.As<Napi::Object>();
  uint32_t action;
  if (!GetAction(env, call, "action", "errnoRet", field, &action)) return false;
  Napi::Array names, args;
  if (!GetArray(env, call, "names", field + ".names", false, &names) ||
      !GetArray(env, call, "args", field + ".args", true, &args)) {
    return false;
  }
  std::vector<scmp_arg_cmp> conditions;
  bool repeated_index = false;
  unsigned int seen = 0;
  for (uint32_t i = 0; i < args.Length(); i++) {
    scmp_arg_cmp cmp;
    if (!GetCondition(env, args.Get(i), field + ".args[" + std::to_string(i) + "]", &cmp)) return false;
    repeated_index = repeated_index || (seen & (1u << cmp.arg)) != 0;
    seen |= 1u << cmp.arg;
    conditions.push_back(cmp);
  }
  // libseccomp refuses a rule that repeats the default action; it changes nothing anyway.
  bool redundant = action == default_action;
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name;
    if (!GetString(env, names.Get(i), field + ".names[" + std::to_string(i) + "]", &name)) return false;
    if (redundant) continue;
    // A name libseccomp does not know is a syscall this kernel or library predates: skipped, as runc does.
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;
    if (repeated_index) {
      // libseccomp cannot AND two conditions on one argument: runc adds each alone, and so matches any of them.
      for (const scmp_arg_cmp& cmp : conditions) {
        if (!AddRule(env, filter, name, nr, action, {cmp})) return false;
      }
    } else if (!AddRule(env, filter, name, nr, action, conditions)) {
      return false;
    }
  }
  return true;
}

// The program as libseccomp writes it: struct sock_filter entries of 8 bytes, in host byte order.
bool ExportBpf(Napi::Env env, const Filter& filter, std::vector<uint8_t>* out) {
  Fd fd(memfd_create("ctrd-seccomp", MFD_CLOEXEC));
  if (fd.get() < 0) {
    ThrowErrno(env, errno, "memfd_create", "");
    return false;
  }
  int rc = seccomp_export_bpf(filter.get(), fd.get());
  if (rc < 0) {
    ThrowErrno(env, -rc, "seccomp_export_bpf", "");
    return false;
  }
  off_t size = lseek(fd.get(), 0, SEEK_END);
  if (size < 0 || lseek(fd.get(), 0, SEEK_SET) < 0) {
    ThrowErrno(env, errno, "lseek", "");
    return false;
  }
  out->resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = read(fd.get(), out->data() + done, out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ThrowErrno(env, errno, "read", "");
      return false;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  return true;
}

// compileSeccomp(profileJson): the BPF program of a normalized OCI linux.seccomp profile (see lib/native.ts).
Napi::Value CompileSeccomp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string json;
  if (!StringArg(info, 0, "profile", &json)) return env.Undefined();
  // The engine's own JSON parser: the addon needs no parser of its own.
  Napi::Object json_global = env.Global().Get("JSON").As<Napi::Object>();
  Napi::Value parsed = json_global.Get("parse").As<Napi::Function>().Call(json_global, {Napi::String::New(env, json)});
  if (env.IsExceptionPending()) return env.Undefined();
  if (!parsed.IsObject() || parsed.IsArray()) {
    ThrowField(env, "profile", "must be a JSON object");
    return env.Undefined();
  }
  Napi::Object profile = parsed.As<Napi::Object>();

  uint32_t default_action;
  if (!GetAction(env, profile, "defaultAction", "defaultErrnoRet", "", &default_action)) {
    return env.Undefined();
  }
  if (default_action == SCMP_ACT_NOTIFY) {
    // The process could not even report its listener fd: every write would wait on an agent.
    ThrowField(env, "defaultAction", "SCMP_ACT_NOTIFY cannot be the default action");
    return env.Undefined();
  }
  Filter filter(default_action);
  if (filter.get() == nullptr) {
    ThrowErrno(env, EINVAL, "seccomp_init", "");
    return env.Undefined();
  }

  Napi::Array arches;
  if (!GetArray(env, profile, "architectures", "architectures", true, &arches)) return env.Undefined();
  for (uint32_t i = 0; i < arches.Length(); i++) {
    uint32_t arch;
    if (!GetArch(env, arches.Get(i), "architectures[" + std::to_string(i) + "]", &arch)) return env.Undefined();
    int rc = seccomp_arch_add(filter.get(), arch);
    // The native architecture is in the filter from the start.
    if (rc < 0 && rc != -EEXIST) {
      ThrowErrno(env, -rc, "seccomp_arch_add", "");
      return env.Undefined();
    }
  }

  Napi::Array syscalls;
  if (!GetArray(env, profile, "syscalls", "syscalls", true, &syscalls)) return env.Undefined();
  // A binary tree of syscall numbers instead of a linear list, for long profiles as runc does (libseccomp
  // 2.5.4 mishandles the tree when there are no rules at all).
  if (syscalls.Length() > 32) {
    int rc = seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (rc < 0) {
      ThrowErrno(env, -rc, "seccomp_attr_set", "");
      return env.Undefined();
    }
  }
  for (uint32_t i = 0; i < syscalls.Length(); i++) {
    if (!AddSyscalls(env, filter, default_action, syscalls.Get(i), "syscalls[" + std::to_string(i) + "]")) {
      return env.Undefined();
    }
  }

  std::vector<uint8_t> program;
  if (!ExportBpf(env, filter, &program)) return env.Undefined();
  return Napi::Buffer<uint8_t>::Copy(env, program.data(), program.size());
}

}  // namespace

void InitSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("compileSeccomp", Napi::Function::New(env, CompileSeccomp, "compileSeccomp"));
}

}  // namespace ctrd

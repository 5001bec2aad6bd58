// Errors as Node's fs module makes them, so that TypeScript maps every failure by its errno name.
#include <string.h>

#include <cctype>

#include "ctrd.h"

namespace ctrd {

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path) {
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "E" + std::to_string(err);
  std::string description = strerror(err);
  if (!description.empty()) description[0] = static_cast<char>(std::tolower(description[0]));
  std::string message = code + ": " + description + ", " + syscall;
  if (!path.empty()) message += " '" + path + "'";

  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) error.Set("path", Napi::String::New(env, path));
  error.ThrowAsJavaScriptException();
}

bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    Napi::TypeError::New(info.Env(), std::string("argument \"") + name + "\" must be a string")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    Napi::TypeError::New(info.Env(), std::string("argument \"") + name + "\" must not contain NUL bytes")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bool UintArg(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t max, uint64_t* out) {
  if (info.Length() > i && info[i].IsNumber()) {
    double v = info[i].As<Napi::Number>().DoubleValue();
    if (v >= 0 && v <= static_cast<double>(max) && v == static_cast<double>(static_cast<uint64_t>(v))) {
      *out = static_cast<uint64_t>(v);
      return true;
    }
  }
  Napi::TypeError::New(info.Env(), std::string("argument \"") + name + "\" must be an integer from 0 to " +
                                       std::to_string(max))
      .ThrowAsJavaScriptException();
  return false;
}

bool BufferArg(const Napi::CallbackInfo& info, size_t i, const char* name, Napi::Buffer<uint8_t>* out) {
  if (info.Length() <= i || !info[i].IsBuffer()) {
    Napi::TypeError::New(info.Env(), std::string("argument \"") + name + "\" must be a Buffer")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::Buffer<uint8_t>>();
  return true;
}

}  // namespace ctrd

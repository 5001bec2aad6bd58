// What a shim needs that Node lacks: becoming a child subreaper, reaping one pid without blocking, plain
// pipes (a container's stdio must be a real pipe), a console socket that receives the pty master over
// SCM_RIGHTS, the terminal size, and an eventfd for cgroup v1 OOM notifications. Nothing here blocks.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ctrd.h"

namespace ctrd {
namespace {

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) ThrowErrno(env, errno, "prctl", "");
  return env.Undefined();
}

// waitpid(pid, WNOHANG): undefined while the child runs, else { pid, status } with status as a shell
// reports it (the exit code, or 128 + the signal number).
Napi::Value WaitPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t pid;
  if (!UintArg(info, 0, "pid", 0x7fffffffu, &pid)) return env.Undefined();
  int wstatus = 0;
  pid_t got;
  do {
    got = waitpid(static_cast<pid_t>(pid), &wstatus, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    ThrowErrno(env, errno, "waitpid", "");
    return env.Undefined();
  }
  if (got == 0) return env.Undefined();
  int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : 255;
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, got));
  out.Set("status", Napi::Number::New(env, status));
  return out;
}

// pipe2(O_CLOEXEC): [read end, write end]. Children get an end through spawn's stdio, which dup2's it.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ThrowErrno(env, errno, "pipe2", "");
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

// A non-blocking unix stream listener on path (runc/crun --console-socket connect there).
Napi::Value ConsoleSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!StringArg(info, 0, "path", &path)) return env.Undefined();
  struct sockaddr_un addr;
  if (!UnixAddress(env, path, "bind", &addr)) return env.Undefined();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ThrowErrno(env, errno, "socket", path);
    return env.Undefined();
  }
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "bind", path);
    return env.Undefined();
  }
  if (listen(fd, 1) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "listen", path);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// Accepts one connection on a console socket and receives the fd it sends (SCM_RIGHTS), without blocking:
// EAGAIN when nothing has arrived yet. Called after runc create/exec returned, so the fd is waiting.
Napi::Value ReceiveFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t listener;
  if (!UintArg(info, 0, "fd", 0x7fffffffu, &listener)) return env.Undefined();
  int conn = accept4(static_cast<int>(listener), nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) {
    ThrowErrno(env, errno, "accept4", "");
    return env.Undefined();
  }
  char data[256];
  struct iovec iov = {data, sizeof data};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do {
    n = recvmsg(conn, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(conn);
  if (n < 0) {
    ThrowErrno(env, err, "recvmsg", "");
    return env.Undefined();
  }
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg == nullptr || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
      cmsg->cmsg_len != CMSG_LEN(sizeof(int))) {
    ThrowErrno(env, EBADMSG, "recvmsg", "");
    return env.Undefined();
  }
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  return Napi::Number::New(env, fd);
}

Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t fd, rows, cols;
  if (!UintArg(info, 0, "fd", 0x7fffffffu, &fd) || !UintArg(info, 1, "rows", 0xffffu, &rows) ||
      !UintArg(info, 2, "cols", 0xffffu, &cols)) {
    return env.Undefined();
  }
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_col = static_cast<unsigned short>(cols);
  if (ioctl(static_cast<int>(fd), TIOCSWINSZ, &ws) != 0) ThrowErrno(env, errno, "ioctl", "");
  return env.Undefined();
}

// eventfd(0, EFD_CLOEXEC): blocking, so that a read in Node's thread pool waits for the kernel's event.
Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = eventfd(0, EFD_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, errno, "eventfd", "");
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

}  // namespace

bool UnixAddress(Napi::Env env, const std::string& path, const char* syscall, struct sockaddr_un* addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof addr->sun_path) {
    ThrowErrno(env, ENAMETOOLONG, syscall, path);
    return false;
  }
  memcpy(addr->sun_path, path.c_str(), path.size());
  return true;
}

void InitProc(Napi::Env env, Napi::Object exports) {
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper, "setChildSubreaper"));
  exports.Set("waitpid", Napi::Function::New(env, WaitPid, "waitpid"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("consoleSocket", Napi::Function::New(env, ConsoleSocket, "consoleSocket"));
  exports.Set("receiveFd", Napi::Function::New(env, ReceiveFd, "receiveFd"));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize, "setWinsize"));
  exports.Set("eventfd", Napi::Function::New(env, Eventfd, "eventfd"));
}

}  // namespace ctrd

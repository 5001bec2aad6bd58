# ctrd's native addon: the few syscalls Node cannot make. One module, ctrd.node; lib/native.ts loads it.
{
  "targets": [
    {
      "target_name": "ctrd",
      "sources": ["src/addon.cc", "src/container.cc", "src/errors.cc", "src/fs.cc", "src/mount.cc", "src/proc.cc", "src/seccomp.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "libraries": ["-lseccomp"],
    }
  ]
}

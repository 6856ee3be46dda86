{
  "targets": [
    {
      "target_name": "ringcast",
      "sources": [
        "native/src/core/ringcast.c",
        "native/src/core/rc_join.c",
        "native/src/providers/memfd/rc_memfd.c",
        "native/src/providers/ivshmem/rc_ivshmem.c",
        "native/src/providers/xen/rc_xen.c",
        "native/src/providers/xen/rc_xenstore.c",
        "native/src/control/rc_unix.c",
        "native/src/control/rc_control.c",
        "native/binding/addon.cc",
        "native/binding/control.cc",
        "native/binding/ivshmem.cc",
        "native/binding/xen.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra", "-std=c++17", "-fexceptions"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"]
    }
  ]
}

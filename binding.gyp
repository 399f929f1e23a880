{
  # The addon links the Rust crate in native/ (a staticlib with filcrypto.h's C ABI), built by
  # the cargo action below. See scripts/native-paths.mjs for the switches (own filcrypto, CUDA).
  "targets": [
    {
      "target_name": "cargo_build",
      "type": "none",
      "actions": [
        {
          "action_name": "cargo_build",
          "inputs": ["native/Cargo.toml", "native/Cargo.lock"],
          # Not a real file: cargo decides itself what is stale, so run it on every build.
          "outputs": ["<(INTERMEDIATE_DIR)/cargo-always-run"],
          "action": ["node", "scripts/cargo-build.mjs"]
        }
      ]
    },
    {
      "target_name": "distminer_proofs",
      "dependencies": ["cargo_build"],
      "sources": ["native/addon/addon.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node scripts/native-paths.mjs include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!(node scripts/native-paths.mjs defines)"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": [
        "<!(node scripts/native-paths.mjs lib)",
        "-lpthread", "-ldl", "-lm", "-lrt",
        # Keep the Rust runtime's symbols private to this addon.
        "-Wl,--exclude-libs,ALL"
      ]
    }
  ]
}

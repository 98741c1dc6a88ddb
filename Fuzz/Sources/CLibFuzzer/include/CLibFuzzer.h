// libFuzzer's driver, for executables whose `main` is Swift's (SwiftPM renames every executable's
// entry point on Linux, so libFuzzer's own `main` cannot be the program's). Linked in by
// `-sanitize=fuzzer`.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

print("pds-bench: no benchmarks yet")
